package introspection

import (
	"context"
	"errors"
	"fmt"
)

// ErrConcurrencyLimit marks a call that gave up waiting for a concurrency
// slot (see Limit). Such errors also wrap ErrIntrospection.
var ErrConcurrencyLimit = errors.New("concurrency limit reached")

// Limit is the layer that lets at most n Introspect calls run at once,
// which keeps a burst of cache misses from overrunning a tenant's
// authorization server. A caller waits for a slot until its ctx is done,
// then gets an error wrapping ErrIntrospection, ErrConcurrencyLimit and
// ctx's error; the limiter has no deadline of its own (the caller bounds
// ctx).
//
// Each Introspector the Middleware returns has slots of its own (a chain
// rebuilt on reload starts with all n free). It is safe for concurrent use
// if next is. n < 1 means no limit: next is returned as is.
func Limit(n int) Middleware {
	return func(next Introspector) Introspector {
		if n < 1 {
			return next
		}
		return &limiter{next: next, slots: make(chan struct{}, n)}
	}
}

type limiter struct {
	next  Introspector
	slots chan struct{} // a buffered channel as a counting semaphore
}

func (l *limiter) Introspect(ctx context.Context, token string) (Result, error) {
	select {
	case l.slots <- struct{}{}: // fast path: a free slot, no wait set up
	default:
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %w: gave up waiting for a slot: %w", ErrIntrospection, ErrConcurrencyLimit, ctx.Err())
		}
	}
	// Deferred so that a panicking next cannot leak the slot.
	defer func() { <-l.slots }()
	return l.next.Introspect(ctx, token)
}
