package cache

import (
	"crypto/sha256"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/tokengate/tokengate/introspection"
)

// Options configures a Store. Zero durations and sizes mean "do not cache"
// for that kind of entry (config validation supplies the defaults).
type Options struct {
	Tenant      string        // part of every key: results never cross tenants
	MaxTTL      time.Duration // positive results live min(MaxTTL, exp - now)
	NegativeTTL time.Duration // active:false results live this long
	MaxEntries  int           // hard bound on positive + negative entries
	Now         func() time.Time
}

// Store holds one tenant's cached claims. Positive and negative answers
// live in two go-cache stores so that, when the bound is reached, the
// negative ones (cheap to recompute, and what a flood of random tokens
// produces) are given up first and real users' tokens stay.
//
// A Store is safe for concurrent use and may outlive the Cache that created
// it: a reload that keeps a tenant's introspection and cache settings wraps
// the same Store again.
type Store struct {
	opts     Options
	positive *gocache.Cache
	negative *gocache.Cache
	// lastSweep rate-limits full sweeps of expired entries (O(n) under a
	// write lock) to one a second while the store is full.
	lastSweep atomic.Int64
	stats     Stats
}

// Stats are the store's counters since it was created. Read with Load.
type Stats struct {
	Hits, NegativeHits, Misses, Coalesced atomic.Int64
	// Evictions counts negative entries dropped to make room for a
	// positive one; Refusals counts answers not stored because the
	// store was full.
	Evictions, Refusals atomic.Int64
}

// NewStore returns an empty store.
func NewStore(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	// go-cache's janitor sweeps expired entries in the background; its
	// goroutine ends when the store is garbage collected.
	const sweep = 10 * time.Second
	return &Store{
		opts:     o,
		positive: gocache.New(gocache.NoExpiration, sweep),
		negative: gocache.New(gocache.NoExpiration, sweep),
	}
}

// Len is the number of entries held, expired ones not yet swept included.
func (s *Store) Len() int { return s.positive.ItemCount() + s.negative.ItemCount() }

// Stats returns the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// Options returns the settings the store was made with.
func (s *Store) Options() Options { return s.opts }

// key is SHA-256 over the tenant name and the token: the raw token is never
// kept, and the same token at two tenants gives two keys.
func (s *Store) key(token string) string {
	buf := make([]byte, 0, 512) // on the stack for ordinary tokens
	buf = append(buf, s.opts.Tenant...)
	buf = append(buf, 0)
	buf = append(buf, token...)
	sum := sha256.Sum256(buf)
	return string(sum[:])
}

// get returns cached claims. A hit never extends the entry's lifetime.
func (s *Store) get(key string) (*introspection.Claims, introspection.CacheStatus, bool) {
	if v, ok := s.positive.Get(key); ok {
		return v.(*introspection.Claims), introspection.CacheHit, true
	}
	if v, ok := s.negative.Get(key); ok {
		return v.(*introspection.Claims), introspection.CacheNegativeHit, true
	}
	return nil, introspection.CacheMiss, false
}

// put stores claims for their lifetime: min(MaxTTL, exp - now) for an
// active token (leeway never stretches it; an already expired one is not
// stored), NegativeTTL for an inactive one.
func (s *Store) put(key string, c *introspection.Claims) {
	if !c.Active {
		if s.opts.NegativeTTL <= 0 {
			return
		}
		if !s.makeRoom(false) {
			s.stats.Refusals.Add(1)
			return
		}
		s.negative.Set(key, c, s.opts.NegativeTTL)
		return
	}
	ttl := s.opts.MaxTTL
	if !c.Expiry.IsZero() {
		ttl = min(ttl, c.Expiry.Sub(s.opts.Now()))
	}
	if ttl <= 0 {
		return
	}
	if !s.makeRoom(true) {
		s.stats.Refusals.Add(1)
		return
	}
	s.positive.Set(key, c, ttl)
}

// makeRoom reports whether one more entry fits under MaxEntries, first
// sweeping expired entries (at most once a second) and, for a positive
// entry, dropping the negative ones.
func (s *Store) makeRoom(positive bool) bool {
	if s.Len() < s.opts.MaxEntries {
		return true
	}
	now := s.opts.Now().UnixNano()
	last := s.lastSweep.Load()
	if now-last >= int64(time.Second) && s.lastSweep.CompareAndSwap(last, now) {
		s.negative.DeleteExpired()
		s.positive.DeleteExpired()
		if s.Len() < s.opts.MaxEntries {
			return true
		}
	}
	if positive {
		if n := s.negative.ItemCount(); n > 0 {
			s.negative.Flush()
			s.stats.Evictions.Add(int64(n))
			return s.Len() < s.opts.MaxEntries
		}
	}
	return false
}
