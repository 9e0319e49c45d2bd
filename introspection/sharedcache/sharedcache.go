// Package sharedcache is the second-level introspection cache that all
// replicas share, kept in a shared store (sharedstore.Entries: Redis,
// through redisstore, or an in-memory fake in tests).
//
// The per-tenant layer (Shared.Middleware) sits between the local cache
// and the authorization server (the chain's order is stated once, in
// internal/tenant): a local miss asks the store first and only a store
// miss introspects, after which the answer is written back in the
// background, at most MaxPendingWrites writes at a time (more are dropped
// rather than piling up while the store is slow). The store never decides
// a check on its own failure: every call is bounded by Timeout, an error or
// a timeout counts as a miss, and after BreakerThreshold errors in a row a
// breaker (breaker.Breaker, the one type introspection's breaker is too)
// skips the store for BreakerCoolDown.
//
// Entries live as the local cache's do (cache.Lifetime), and carry an
// HMAC with Options.SigningKey (sign.go). The revocation markers are
// written by introspection/revocation: while one lives, lookups of a
// matching token answer active:false, so that no replica re-admits it from
// an answer that was in flight during the revocation. A subject marker
// covers tokens issued (iat) up to the revocation, and tokens without iat.
//
// Concurrency: a Shared and the layers it makes are safe for concurrent
// use; its state (counters, breaker, writes in flight) is shared by every
// tenant and every chain built on it. Ownership: a Shared borrows its
// store, which its maker closes after Shared.Close; its only goroutines
// are the background writes, each over within Timeout, which Close waits
// for.
package sharedcache

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/breaker"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

// Defaults of Options.
const (
	DefaultTimeout          = sharedstore.DefaultTimeout
	DefaultBreakerThreshold = 5
	DefaultBreakerCoolDown  = 5 * time.Second
	DefaultMaxPendingWrites = 256
)

// Options configures a Shared.
type Options struct {
	// Store is the shared store; required.
	Store sharedstore.Entries
	// Timeout bounds each lookup (both its round trips) and each write.
	Timeout time.Duration
	// BreakerThreshold errors in a row make lookups skip the store for
	// BreakerCoolDown (on the wall clock, not Now: see package breaker).
	BreakerThreshold int
	BreakerCoolDown  time.Duration
	// MaxPendingWrites bounds the background writes in flight.
	MaxPendingWrites int
	// IndexTTL, when set, is how long index sets live at least: as long
	// as revocation markers (revocation.Revoker.MarkerTTL), so that a
	// revocation finds every entry still cached somewhere.
	IndexTTL func() time.Duration
	// SigningKey, when set, makes every entry carry an HMAC-SHA256 (see
	// sign.go); entries without a valid one are ignored (a miss, counted
	// in Stats.Forged). Empty: entries are plain JSON, trusted as read.
	SigningKey []byte
	Logger     *slog.Logger     // nil: nothing logged
	Now        func() time.Time // nil: time.Now; lifetimes and signatures
}

// Stats are the shared cache's counters since it was created.
type Stats struct {
	Hits    atomic.Int64 // lookups the store answered
	Misses  atomic.Int64 // lookups the store had nothing for
	Errors  atomic.Int64 // store calls that failed or timed out
	Skipped atomic.Int64 // lookups that did not ask the store (breaker open)
	// Revoked counts lookups answered active:false by a revocation marker.
	Revoked atomic.Int64
	// Forged counts lookups that found an entry without a valid signature
	// (with Options.SigningKey): unsigned, malformed, signed for another
	// key name or with another key, or written back after it expired. The
	// authorization server is asked instead.
	Forged atomic.Int64
	// Writes counts answers written to the store.
	Writes atomic.Int64
	// ReplayFallbacks counts DPoP replay checks the store did not answer
	// (failed, timed out, or skipped while the breaker is open): the
	// replica's own replay cache decided alone (see ReplayCache).
	ReplayFallbacks atomic.Int64
}

// Shared is one process's shared cache. A nil *Shared adds no layer.
type Shared struct {
	opts    Options
	store   sharedstore.Entries
	log     *slog.Logger
	stats   Stats
	breaker *breaker.Breaker
	// The latest store error and the run of them, for the breaker's log
	// line (the breaker counts too, but cannot be asked from its hook).
	lastErr     atomic.Pointer[string]
	errorsInRow atomic.Int64
	// pending holds a token per background write in flight; Close takes
	// them all.
	pending   chan struct{}
	closeOnce sync.Once
}

// orDefault is v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// New returns a Shared on o.Store.
func New(o Options) *Shared {
	if o.Store == nil {
		panic("sharedcache: Options.Store is nil")
	}
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.BreakerThreshold = orDefault(o.BreakerThreshold, DefaultBreakerThreshold)
	o.BreakerCoolDown = orDefault(o.BreakerCoolDown, DefaultBreakerCoolDown)
	o.MaxPendingWrites = orDefault(o.MaxPendingWrites, DefaultMaxPendingWrites)
	if o.IndexTTL == nil {
		o.IndexTTL = func() time.Duration { return 0 }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Shared{opts: o, store: o.Store, log: o.Logger, pending: make(chan struct{}, o.MaxPendingWrites)}
	s.breaker = breaker.New(breaker.Settings{
		Name:                "shared cache",
		ConsecutiveFailures: o.BreakerThreshold,
		CoolDown:            o.BreakerCoolDown,
		// One lookup probes the store after the cool-down: its success
		// lets every lookup through again, its failure skips the store
		// for another cool-down.
		Probes:        1,
		OnStateChange: s.breakerChanged,
	})
	return s
}

// Close waits for the background writes in flight and drops every later
// one, so that the store can be closed after it. Lookups still work.
func (s *Shared) Close() {
	if s == nil {
		return
	}
	s.closeOnce.Do(func() {
		for range cap(s.pending) {
			s.pending <- struct{}{}
		}
	})
}

// Stats returns the counters (all zero for a nil *Shared).
func (s *Shared) Stats() *Stats {
	if s == nil {
		return &Stats{}
	}
	return &s.stats
}

// Tenant is what the layer needs to know about a tenant: the same key and
// lifetimes (cache.Lifetime) as its local cache.
type Tenant struct {
	Name string
	// Fingerprint is cache.Fingerprint of the tenant's introspection
	// settings: replicas (or deployments) that ask another server, or as
	// another client, never read each other's entries.
	Fingerprint string
	MaxTTL      time.Duration
	NegativeTTL time.Duration
}

// Middleware is the shared cache's layer for tenant t: the Introspector
// it returns answers from the store when it can and writes what next
// answers back. A nil *Shared returns next itself.
func (s *Shared) Middleware(t Tenant) introspection.Middleware {
	return func(next introspection.Introspector) introspection.Introspector {
		if s == nil {
			return next
		}
		return &decorator{s: s, next: next, t: t}
	}
}

type decorator struct {
	s    *Shared
	next introspection.Introspector
	t    Tenant
}

// Introspect implements introspection.Introspector.
func (d *decorator) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	s := d.s
	k := hex.EncodeToString([]byte(cache.Key(d.t.Name, d.t.Fingerprint, token)))
	tokenID := tokenid.Of(token)
	claims, revoked, fake, err := s.lookup(ctx, d.t.Name, k, tokenID)
	// storeOK: the store answered the lookup. When it did not, the answer
	// is neither checked against markers nor written, so a slow store
	// costs a check one Timeout at most.
	storeOK := err == nil
	switch {
	case errors.Is(err, errSkipped):
		s.stats.Skipped.Add(1)
	case err != nil:
		// a miss: ask the authorization server
	case fake:
		// a miss too; the answer overwrites the entry
		s.stats.Forged.Add(1)
	case revoked:
		s.stats.Revoked.Add(1)
		return introspection.Result{Claims: inactive(), Cache: introspection.CacheNone}, nil
	case claims != nil:
		s.stats.Hits.Add(1)
		return introspection.Result{Claims: claims, Cache: introspection.CacheNone}, nil
	default:
		s.stats.Misses.Add(1)
	}
	res, err := d.next.Introspect(ctx, token)
	if err != nil || res.Claims == nil || !storeOK {
		return res, err
	}
	if res.Claims.Active {
		// A revocation may have happened while the server was asked.
		if revoked, err := s.isRevoked(ctx, d.t.Name, tokenID, res.Claims); err == nil && revoked {
			s.stats.Revoked.Add(1)
			return introspection.Result{Claims: inactive(), Cache: res.Cache}, nil
		}
	}
	s.writeAsync(d.t, k, tokenID, res.Claims)
	return res, nil
}

func inactive() *introspection.Claims {
	c, _ := introspection.ParseClaims([]byte(`{"active":false}`))
	return c
}
