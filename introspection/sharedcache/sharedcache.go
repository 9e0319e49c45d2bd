// Package sharedcache is the second-level introspection cache that all
// replicas share, kept in Redis, and the revocation that evicts tokens from
// it and from every replica's local cache.
//
// The per-tenant layer (Shared.Middleware) sits between the local cache
// and the authorization server (the chain's order is stated once, in
// internal/tenant): a local miss asks Redis first and only a Redis miss
// introspects, after which the answer is written to Redis in the background. Redis never
// decides a check on its own failure: every call is bounded by Timeout, an
// error or a timeout counts as a miss, and after BreakerThreshold errors in
// a row Redis is skipped for BreakerCoolDown.
//
// Keys (P is the key prefix, K the hex of cache.Key(tenant, fingerprint,
// token), I the token_id, S the hex of SHA-256 over tenant, NUL, sub):
//
//	P K                 claims as JSON (signed with Options.SigningKey, see
//	                    sign.go), TTL ≤ exp - now and ≤ max_ttl
//	                    (positive) or negative_ttl (active false)
//	P "index:id:" I     set of K with that token_id
//	P "index:sub:" S    set of K with that subject
//	P "revoked:id:" I   revocation marker (value: revocation time, unix ms)
//	P "revoked:sub:" S  revocation marker for a subject
//	P "revocations"     pub/sub channel of revocations
//
// Markers and index sets live as long as the longest max_ttl of the tenants.
// While a marker lives, lookups of a matching token answer active:false, so
// no replica re-admits it from an answer that was in flight during the
// revocation. A subject marker covers tokens issued (iat) up to the
// revocation, and tokens without iat.
package sharedcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

// Defaults of Options.
const (
	DefaultTimeout          = 50 * time.Millisecond
	DefaultBreakerThreshold = 5
	DefaultBreakerCoolDown  = 5 * time.Second
	// DefaultAdminTimeout bounds the Redis part of a revocation: an
	// operator's call, not in any check's path.
	DefaultAdminTimeout = 2 * time.Second
	// maxPendingWrites bounds the background writes in flight; more are
	// dropped rather than piling up while Redis is slow.
	maxPendingWrites = 256
)

// Options configures a Shared.
type Options struct {
	// Client is the Redis client; nil: no shared cache, and revocations
	// evict the local caches of this replica only.
	Client    redis.UniversalClient
	KeyPrefix string
	// Timeout bounds each Redis round trip of a lookup or a write.
	Timeout time.Duration
	// BreakerThreshold errors in a row make lookups skip Redis for
	// BreakerCoolDown.
	BreakerThreshold int
	BreakerCoolDown  time.Duration
	// AdminTimeout bounds the Redis part of a revocation.
	AdminTimeout time.Duration
	// SigningKey, when set, makes every entry carry an HMAC-SHA256 (see
	// sign.go); entries without a valid one are ignored (a miss, counted
	// in Stats.Forged). Empty: entries are plain JSON, trusted as read.
	SigningKey []byte
	Logger     *slog.Logger
	Now        func() time.Time
}

// Stats are the shared cache's counters since it was created.
type Stats struct {
	Hits    atomic.Int64 // lookups Redis answered
	Misses  atomic.Int64 // lookups Redis had nothing for
	Errors  atomic.Int64 // Redis calls that failed or timed out
	Skipped atomic.Int64 // lookups that did not ask Redis (breaker open)
	// Revoked counts lookups answered active:false by a revocation marker.
	Revoked atomic.Int64
	// Forged counts lookups that found an entry without a valid signature
	// (with Options.SigningKey): unsigned, malformed, signed for another
	// key name or with another key, or written back after it expired. The
	// authorization server is asked instead.
	Forged atomic.Int64
	// Writes counts answers written to Redis.
	Writes atomic.Int64
	// Revocations counts revocations made here or received from others.
	Revocations, Received atomic.Int64
}

// Shared is one process's connection to the shared cache. Its methods are
// safe for concurrent use; a nil *Shared adds no layer and revokes nothing.
type Shared struct {
	opts    Options
	client  redis.UniversalClient
	log     *slog.Logger
	origin  string // this replica's id in published revocations
	stats   Stats
	stores  atomic.Pointer[storeSet]
	pending chan struct{}

	errorsInRow atomic.Int64
	openUntil   atomic.Int64 // unix nanoseconds; Redis skipped before it

	cancel context.CancelFunc
	done   chan struct{}
}

// storeSet is the local stores revocations evict from, per tenant, and the
// lifetime of markers and index sets (the longest max_ttl).
type storeSet struct {
	byTenant  map[string]*cache.Store
	markerTTL time.Duration
}

// New returns a Shared and, with a client, starts listening for the
// revocations other replicas publish. Close stops it.
func New(o Options) *Shared {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = DefaultBreakerThreshold
	}
	if o.BreakerCoolDown <= 0 {
		o.BreakerCoolDown = DefaultBreakerCoolDown
	}
	if o.AdminTimeout <= 0 {
		o.AdminTimeout = DefaultAdminTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Shared{
		opts:    o,
		client:  o.Client,
		log:     o.Logger,
		origin:  rand.Text(),
		pending: make(chan struct{}, maxPendingWrites),
		done:    make(chan struct{}),
	}
	s.stores.Store(&storeSet{})
	if s.client == nil {
		close(s.done)
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.subscribe(ctx)
	return s
}

// Close stops listening for revocations and closes the client.
func (s *Shared) Close() error {
	if s == nil || s.client == nil {
		return nil
	}
	s.cancel()
	<-s.done
	return s.client.Close()
}

// Stats returns the counters.
func (s *Shared) Stats() *Stats { return &s.stats }

// Enabled reports whether there is a Redis behind s.
func (s *Shared) Enabled() bool { return s != nil && s.client != nil }

// SetStores tells s the local cache stores of the current configuration,
// per tenant, which revocations evict from. Called after every (re)load.
func (s *Shared) SetStores(stores map[string]*cache.Store) {
	if s == nil {
		return
	}
	set := &storeSet{byTenant: stores}
	for _, st := range stores {
		set.markerTTL = max(set.markerTTL, st.Options().MaxTTL)
	}
	s.stores.Store(set)
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
// it returns answers from Redis when it can and writes what next answers
// back. Without Redis (s nil or without a client) it returns next itself.
// The state (connection, counters, Redis breaker) is s's, shared by every
// tenant and every chain built on it.
func (s *Shared) Middleware(t Tenant) introspection.Middleware {
	return func(next introspection.Introspector) introspection.Introspector {
		if !s.Enabled() {
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
	// redisOK: Redis answered the lookup. When it did not, the answer is
	// neither checked against markers nor written, so a slow Redis costs a
	// check one Timeout at most.
	redisOK := false
	if s.usable() {
		claims, revoked, fake, err := s.lookup(ctx, d.t.Name, k, tokenID)
		redisOK = err == nil
		switch {
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
	} else {
		s.stats.Skipped.Add(1)
	}
	res, err := d.next.Introspect(ctx, token)
	if err != nil || res.Claims == nil || !redisOK {
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
