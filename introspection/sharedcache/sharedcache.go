// Package sharedcache is the second-level introspection cache that all
// replicas share, kept in Redis, and the revocation that evicts tokens from
// it and from every replica's local cache.
//
// The per-tenant decorator sits between the local cache and the
// authorization server (local cache → shared cache → breaker → limit →
// client): a local miss asks Redis first and only a Redis miss introspects,
// after which the answer is written to Redis in the background. Redis never
// decides a check on its own failure: every call is bounded by Timeout, an
// error or a timeout counts as a miss, and after BreakerThreshold errors in
// a row Redis is skipped for BreakerCoolDown.
//
// Keys (P is the key prefix, K the hex of cache.Key(tenant, token), I the
// token_id, S the hex of SHA-256 over tenant, NUL, sub):
//
//	P K                 claims as JSON, TTL ≤ exp - now and ≤ max_ttl
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
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
	// dropped (counted in Stats.Dropped) rather than piling up while
	// Redis is slow.
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
	Logger       *slog.Logger
	Now          func() time.Time
}

// Stats are the shared cache's counters since it was created.
type Stats struct {
	Hits    atomic.Int64 // lookups Redis answered
	Misses  atomic.Int64 // lookups Redis had nothing for
	Errors  atomic.Int64 // Redis calls that failed or timed out
	Skipped atomic.Int64 // lookups that did not ask Redis (breaker open)
	// Revoked counts lookups answered active:false by a revocation marker.
	Revoked atomic.Int64
	// Writes counts answers written to Redis; Dropped those not written
	// because too many writes were pending.
	Writes, Dropped atomic.Int64
	// Revocations counts revocations made here or received from others.
	Revocations, Received atomic.Int64
}

// Shared is one process's connection to the shared cache. Its methods are
// safe for concurrent use; a nil *Shared wraps nothing and revokes nothing.
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

// Tenant is what the decorator needs to know about a tenant: the same
// lifetimes as its local cache.
type Tenant struct {
	Name        string
	MaxTTL      time.Duration
	NegativeTTL time.Duration
}

// Wrap returns next behind the shared cache for tenant t, or next itself
// when s has no Redis.
func (s *Shared) Wrap(next introspection.Introspector, t Tenant) introspection.Introspector {
	if !s.Enabled() {
		return next
	}
	return &decorator{s: s, next: next, t: t}
}

type decorator struct {
	s    *Shared
	next introspection.Introspector
	t    Tenant
}

// Introspect implements introspection.Introspector.
func (d *decorator) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	s := d.s
	k := hex.EncodeToString([]byte(cache.Key(d.t.Name, token)))
	tokenID := bearer.ID(token)
	// redisOK: Redis answered the lookup. When it did not, the answer is
	// neither checked against markers nor written, so a slow Redis costs a
	// check one Timeout at most.
	redisOK := false
	if s.usable() {
		claims, revoked, err := s.lookup(ctx, d.t.Name, k, tokenID)
		redisOK = err == nil
		switch {
		case err != nil:
			// a miss: ask the authorization server
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

// Key names.
func (s *Shared) entryKey(k string) string          { return s.opts.KeyPrefix + k }
func (s *Shared) idIndexKey(tokenID string) string  { return s.opts.KeyPrefix + "index:id:" + tokenID }
func (s *Shared) subIndexKey(subHash string) string { return s.opts.KeyPrefix + "index:sub:" + subHash }
func (s *Shared) idMarkerKey(tokenID string) string {
	return s.opts.KeyPrefix + "revoked:id:" + tokenID
}
func (s *Shared) subMarkerKey(subHash string) string {
	return s.opts.KeyPrefix + "revoked:sub:" + subHash
}
func (s *Shared) channel() string { return s.opts.KeyPrefix + "revocations" }

// subjectHash names a tenant's subject in keys (a sub may hold any bytes).
func subjectHash(tenant, sub string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + sub))
	return hex.EncodeToString(sum[:])
}

// lookup reads the entry and the token_id marker in one round trip, and
// for an active entry with a subject the subject marker in a second one,
// all within one Timeout. claims is nil on a miss.
func (s *Shared) lookup(ctx context.Context, tenant, k, tokenID string) (claims *introspection.Claims, revoked bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	entry := pipe.Get(ctx, s.entryKey(k))
	marker := pipe.Exists(ctx, s.idMarkerKey(tokenID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, s.failed(err)
	}
	s.succeeded()
	if marker.Val() > 0 {
		return nil, true, nil
	}
	body, err := entry.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.failed(err)
	}
	claims, err = introspection.ParseClaims(body)
	if err != nil {
		// Not something this version wrote: a miss.
		s.log.Warn("shared cache: unreadable entry, ignored", slog.String("tenant", tenant), slog.String("error", err.Error()))
		return nil, false, nil
	}
	if claims.Active && claims.Subject != "" {
		revoked, err := s.subjectRevoked(ctx, tenant, claims)
		if err != nil {
			return nil, false, err
		}
		if revoked {
			return nil, true, nil
		}
	}
	return claims, false, nil
}

// isRevoked checks both markers for a fresh answer, within one Timeout.
func (s *Shared) isRevoked(ctx context.Context, tenant, tokenID string, c *introspection.Claims) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	idMarker := pipe.Exists(ctx, s.idMarkerKey(tokenID))
	var subMarker *redis.StringCmd
	if c.Subject != "" {
		subMarker = pipe.Get(ctx, s.subMarkerKey(subjectHash(tenant, c.Subject)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, s.failed(err)
	}
	s.succeeded()
	if idMarker.Val() > 0 {
		return true, nil
	}
	return subMarker != nil && revokedBySubject(subMarker, c), nil
}

func (s *Shared) subjectRevoked(ctx context.Context, tenant string, c *introspection.Claims) (bool, error) {
	cmd := s.client.Get(ctx, s.subMarkerKey(subjectHash(tenant, c.Subject)))
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, s.failed(err)
	}
	s.succeeded()
	return revokedBySubject(cmd, c), nil
}

// revokedBySubject: a subject marker holds the revocation time (unix ms);
// it covers the tokens issued up to then, and those without iat.
func revokedBySubject(cmd *redis.StringCmd, c *introspection.Claims) bool {
	v, err := cmd.Result()
	if err != nil {
		return false
	}
	at, err := strconv.ParseInt(v, 10, 64)
	if err != nil || c.IssuedAt.IsZero() {
		return true
	}
	return c.IssuedAt.UnixMilli() <= at
}

// lifetime is how long Redis keeps an answer: the local cache's rules.
func (s *Shared) lifetime(t Tenant, c *introspection.Claims) time.Duration {
	if !c.Active {
		return t.NegativeTTL
	}
	ttl := t.MaxTTL
	if !c.Expiry.IsZero() {
		ttl = min(ttl, c.Expiry.Sub(s.opts.Now()))
	}
	return ttl
}

// writeAsync stores an answer in the background, bounded by Timeout; it
// never delays the check.
func (s *Shared) writeAsync(t Tenant, k, tokenID string, c *introspection.Claims) {
	ttl := s.lifetime(t, c)
	if ttl <= 0 {
		return
	}
	body, err := json.Marshal(c.Raw)
	if err != nil {
		return
	}
	select {
	case s.pending <- struct{}{}:
	default:
		s.stats.Dropped.Add(1)
		return
	}
	markerTTL := s.stores.Load().markerTTL
	go func() {
		defer func() { <-s.pending }()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		pipe := s.client.Pipeline()
		pipe.Set(ctx, s.entryKey(k), body, ttl)
		if c.Active {
			indexTTL := max(markerTTL, ttl)
			idx := s.idIndexKey(tokenID)
			pipe.SAdd(ctx, idx, k)
			pipe.PExpire(ctx, idx, indexTTL)
			if c.Subject != "" {
				idx := s.subIndexKey(subjectHash(t.Name, c.Subject))
				pipe.SAdd(ctx, idx, k)
				pipe.PExpire(ctx, idx, indexTTL)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			s.failed(err)
			return
		}
		s.succeeded()
		s.stats.Writes.Add(1)
	}()
}

// usable is false while the breaker is open.
func (s *Shared) usable() bool {
	return s.opts.Now().UnixNano() >= s.openUntil.Load()
}

func (s *Shared) failed(err error) error {
	s.stats.Errors.Add(1)
	if n := s.errorsInRow.Add(1); n >= int64(s.opts.BreakerThreshold) {
		now := s.opts.Now()
		if old := s.openUntil.Load(); old <= now.UnixNano() &&
			s.openUntil.CompareAndSwap(old, now.Add(s.opts.BreakerCoolDown).UnixNano()) {
			s.log.Warn("shared cache: Redis failing, skipped for a while",
				slog.Int64("errors_in_row", n), slog.Duration("skip_for", s.opts.BreakerCoolDown),
				slog.String("error", err.Error()))
		}
	}
	return err
}

func (s *Shared) succeeded() {
	if s.errorsInRow.Swap(0) >= int64(s.opts.BreakerThreshold) {
		s.log.Info("shared cache: Redis answering again")
	}
}
