// Package cache shields an authorization server: a decorator with the same
// one-method interface as the introspection client, holding the claims of
// recent answers (never decisions: policy is applied to every check) and
// coalescing concurrent misses for one token into one call.
package cache

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

// Cache is an introspection.Introspector that answers from a Store and asks
// next only on a miss; Store.Middleware makes one. It is safe for
// concurrent use.
type Cache struct {
	next        introspection.Introspector
	store       *Store
	group       singleflight.Group
	callTimeout time.Duration
}

// Middleware is the local cache's layer: a Cache answering from s, over
// next. Each Cache has its own coalescing group; the entries live in s,
// which outlives the chain (a reload that keeps the tenant's settings
// puts the same Store in the new chain).
//
// The one shared call a group of coalesced misses makes runs on its own, so a caller that gives up early does not
// cancel it for the others, and its answer is still stored. It lasts until
// the leader's own deadline (the gRPC deadline), or callTimeout (the
// tenant's introspection timeout) when that is later or there is none: a
// check under a 15 s deadline may wait that long for a concurrency slot,
// while each HTTP call to the server stays bounded by the client's timeout.
func (s *Store) Middleware(callTimeout time.Duration) introspection.Middleware {
	return func(next introspection.Introspector) introspection.Introspector {
		return &Cache{next: next, store: s, callTimeout: callTimeout}
	}
}

// Store returns the store the cache answers from.
func (c *Cache) Store() *Store { return c.store }

// Introspect implements introspection.Introspector. Errors are never stored.
// A caller waiting on another caller's call gives up at its own deadline.
func (c *Cache) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	key := c.store.key(token)
	if claims, status, ok := c.store.get(key); ok {
		return introspection.Result{Claims: claims, Cache: status}, nil
	}
	leader := false
	ch := c.group.DoChan(key, func() (any, error) {
		leader = true
		return c.fetch(ctx, key, token)
	})
	select {
	case r := <-ch:
		status := introspection.CacheCoalesced
		if leader {
			status = introspection.CacheMiss
		}
		if r.Err != nil {
			return introspection.Result{Cache: status}, r.Err
		}
		claims, ok := r.Val.(*introspection.Claims) // what fetch returns
		if !ok || claims == nil {
			return introspection.Result{Cache: status}, fmt.Errorf("%w: no claims in the answer", introspection.ErrIntrospection)
		}
		return introspection.Result{Claims: claims, Cache: status}, nil
	case <-ctx.Done():
		return introspection.Result{Cache: introspection.CacheCoalesced},
			fmt.Errorf("%w: waiting for the authorization server: %w", introspection.ErrIntrospection, ctx.Err())
	}
}

// fetch is the one call a group of concurrent misses makes. It checks the
// store again first: an earlier group may have stored the answer just after
// this caller's lookup.
func (c *Cache) fetch(ctx context.Context, key, token string) (*introspection.Claims, error) {
	if claims, _, ok := c.store.get(key); ok {
		return claims, nil
	}
	gen := c.store.Generation()
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), c.callDeadline(ctx))
	defer cancel()
	res, err := c.next.Introspect(ctx, token)
	if err != nil {
		return nil, err
	}
	if res.Claims == nil {
		return nil, fmt.Errorf("%w: no claims in the answer", introspection.ErrIntrospection)
	}
	return c.store.put(key, tokenid.Of(token), res.Claims, gen), nil
}

// callDeadline is when the shared call started for ctx's caller gives up:
// the later of ctx's deadline and callTimeout from now.
func (c *Cache) callDeadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.callTimeout)
	if own, ok := ctx.Deadline(); ok && own.After(d) {
		return own
	}
	return d
}
