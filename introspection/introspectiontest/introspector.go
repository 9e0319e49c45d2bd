package introspectiontest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// Introspector is an in-memory introspection.Introspector for tests of what
// wraps the client (cache, limit, breaker, check): no I/O. A token without
// an answer is inactive: the claims of {"active":false} and CacheNone, as
// the client reports them. Make one with NewIntrospector.
type Introspector struct {
	counts

	mu      sync.Mutex // guards what follows
	answers map[string]outcome
	fn      func(ctx context.Context, token string) (introspection.Result, error)
	delay   time.Duration
	gate    chan struct{} // non-nil while Block holds the calls
}

type outcome struct {
	res introspection.Result
	err error
}

// NewIntrospector is an Introspector that knows no token yet.
func NewIntrospector() *Introspector {
	return &Introspector{answers: map[string]outcome{}}
}

// Active is an Introspector that calls every token active: the claims of
// {"active":true} (nothing else to check) and CacheNone.
func Active() *Introspector {
	c, err := introspection.ParseClaims([]byte(`{"active":true}`))
	if err != nil {
		panic(err)
	}
	f := NewIntrospector()
	f.AnswerAll(introspection.Result{Claims: c, Cache: introspection.CacheNone})
	return f
}

// Answer makes every call about token return res (share nothing in
// res.Claims that a test later changes: callers may keep it).
func (f *Introspector) Answer(token string, res introspection.Result) {
	f.set(token, outcome{res: res})
}

// Fail makes every call about token return err (wrap ErrIntrospection
// for a failure of the authorization server).
func (f *Introspector) Fail(token string, err error) { f.set(token, outcome{err: err}) }

func (f *Introspector) set(token string, o outcome) { guarded(&f.mu, func() { f.answers[token] = o }) }

// AnswerFunc makes fn answer every token without an answer of its own, for
// answers that change from call to call or depend on ctx (nil: inactive).
// fn runs without a lock held, concurrently with other calls.
func (f *Introspector) AnswerFunc(fn func(ctx context.Context, token string) (introspection.Result, error)) {
	guarded(&f.mu, func() { f.fn = fn })
}

// AnswerAll makes every token without an answer of its own answer res.
func (f *Introspector) AnswerAll(res introspection.Result) {
	f.AnswerFunc(func(context.Context, string) (introspection.Result, error) { return res, nil })
}

// SetDelay makes every call wait d before answering (0: none).
func (f *Introspector) SetDelay(d time.Duration) { guarded(&f.mu, func() { f.delay = d }) }

// Block holds every call that starts from now on until Release, as a slow
// authorization server would (coalescing and concurrency-limit tests).
func (f *Introspector) Block() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate == nil {
		f.gate = make(chan struct{})
	}
}

// Release lets the calls held by Block answer; later calls no longer wait.
func (f *Introspector) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// Introspect answers as told. A call whose ctx ends while it waits (delay
// or Block) fails with ErrIntrospection and ctx's error, as the client does.
func (f *Introspector) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	defer f.enter(token)()
	f.mu.Lock()
	o, ok := f.answers[token]
	fn, delay, gate := f.fn, f.delay, f.gate
	f.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return introspection.Result{}, fmt.Errorf("%w: %w", introspection.ErrIntrospection, ctx.Err())
		}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return introspection.Result{}, fmt.Errorf("%w: %w", introspection.ErrIntrospection, ctx.Err())
		}
	}
	switch {
	case ok:
		return o.res, o.err
	case fn != nil:
		return fn(ctx, token)
	}
	c, err := introspection.ParseClaims([]byte(`{"active":false}`))
	return introspection.Result{Claims: c, Cache: introspection.CacheNone}, err
}
