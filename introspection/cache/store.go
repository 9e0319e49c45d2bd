package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// Options configures a Store. Zero durations and sizes mean "do not cache"
// for that kind of entry (config validation supplies the defaults).
type Options struct {
	Tenant string // part of every key: results never cross tenants
	// Fingerprint (see Fingerprint) is part of every key too: results
	// never cross authorization servers, nor clients of one.
	Fingerprint string
	MaxTTL      time.Duration // positive results live min(MaxTTL, exp - now)
	NegativeTTL time.Duration // active:false results live this long
	MaxEntries  int           // hard bound on positive + negative entries
	Now         func() time.Time
}

// Store holds one tenant's cached claims. Positive and negative answers
// live in two (sharded) go-cache stores so that, when the bound is reached, the
// negative ones (cheap to recompute, and what a flood of random tokens
// produces) are given up first and real users' tokens stay.
//
// Each entry is small (BenchmarkStoreMemoryPerEntry): the claims are
// compacted (introspection.Claims.Compact) with values tokens share
// interned per store, and the revocation index holds two map slots per
// entry (index.go). Expired entries are swept by one goroutine for every
// store of the process (sweeper.go), not one per store, a shard at a time
// (shards.go), so that a sweep of a full store never stalls its lookups
// for long.
//
// A Store is safe for concurrent use and may outlive the chains it is in:
// a reload that keeps a tenant's introspection and cache settings puts the
// same Store's Middleware in the new chain.
type Store struct {
	opts     Options
	positive shards
	negative shards
	// lastSweep rate-limits full sweeps of expired entries (O(n), each
	// shard under its write lock) to one a second while the store is full.
	lastSweep atomic.Int64
	// idx finds positive entries by subject and token_id, for revocation.
	idx      *index
	interner *introspection.Interner
	swept    *sweptStore // the store's place in the shared sweeper
}

// NewStore returns an empty store, swept of expired entries by the shared
// sweeper until Close.
func NewStore(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	n := shardCount(o.MaxEntries)
	idx := newIndex()
	s := &Store{
		opts: o,
		positive: newShards(n, func(key string, v any) {
			c, _ := v.(*introspection.Claims) // only put stores values
			idx.evicted(key, c)
		}),
		negative: newShards(n, nil),
		idx:      idx,
		interner: introspection.NewInterner(),
	}
	idx.positive = s.positive
	s.swept = sweeper.add(s)
	return s
}

// Close takes the store out of the shared sweeper: expired entries are no
// longer swept in the background (a lookup still never returns one, and a
// full store still sweeps itself). Call it when no configuration uses the
// store any more (a tenant removed, or its cache rebuilt, on reload; on
// shutdown). The store keeps working for checks still holding it. Closing
// twice is harmless; a store that is garbage collected leaves the sweeper
// on its own.
func (s *Store) Close() { sweeper.remove(s.swept) }

// sweep deletes the expired entries.
func (s *Store) sweep() {
	s.negative.deleteExpired()
	s.positive.deleteExpired()
}

// Len is the number of entries held, expired ones not yet swept included.
func (s *Store) Len() int { return s.positive.count() + s.negative.count() }

// Options returns the settings the store was made with.
func (s *Store) Options() Options { return s.opts }

// key is the cache key of token here: the raw token is never kept, and
// the same token at two tenants, or at one tenant whose introspection
// settings changed, gives two keys.
func (s *Store) key(token string) string { return Key(s.opts.Tenant, s.opts.Fingerprint, token) }

// KeyFor is the key under which the store holds token's claims (as Key
// returns it, with the store's tenant and fingerprint).
func (s *Store) KeyFor(token string) string { return s.key(token) }

// Key is the cache key of token at tenant, whose introspection settings
// have this Fingerprint: the raw 32 bytes of SHA-256 over the tenant and
// the fingerprint, each preceded by its length (4 bytes, big-endian), then
// the token. The shared (Redis) cache uses its hex form.
func Key(tenant, fingerprint, token string) string {
	buf := make([]byte, 0, 512) // on the stack for ordinary tokens
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(tenant)))
	buf = append(buf, tenant...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(fingerprint)))
	buf = append(buf, fingerprint...)
	buf = append(buf, token...)
	sum := sha256.Sum256(buf)
	return string(sum[:])
}

// Fingerprint names who answers for a tenant: SHA-256 (hex) over the
// introspection settings that decide which authorization server is asked
// and what its answers mean: the URL (and a Host header that overrides
// it), the client_id, the auth method, the response format and the issuer,
// each preceded by its length. Secrets, keys, timeouts and TLS settings are
// left out: a rotated secret for the same client at the same server does
// not change who answers. Computed once per tenant when the configuration
// is built.
func Fingerprint(o introspection.Options) string {
	o = o.WithDefaults() // "" and the default method or format are one server
	var host string
	for name, v := range o.Headers {
		if http.CanonicalHeaderKey(name) == "Host" {
			host = v
		}
	}
	h := sha256.New()
	for _, f := range []string{"tokengate introspection fingerprint v1", o.URL, host, o.ClientID, string(o.AuthMethod), string(o.ResponseFormat), o.Issuer} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns cached claims. A hit never extends the entry's lifetime.
func (s *Store) get(key string) (*introspection.Claims, introspection.CacheStatus, bool) {
	// Only put stores values, always *introspection.Claims.
	if v, ok := s.positive.get(key); ok {
		if c, ok := v.(*introspection.Claims); ok {
			return c, introspection.CacheHit, true
		}
	}
	if v, ok := s.negative.get(key); ok {
		if c, ok := v.(*introspection.Claims); ok {
			return c, introspection.CacheNegativeHit, true
		}
	}
	return nil, introspection.CacheMiss, false
}

// Lifetime is how long an answer may be kept, by both caches (this local
// one and the shared one in Redis), so that one rule decides it: an active
// token's claims min(maxTTL, exp - now), or maxTTL without exp; an
// inactive token's negativeTTL. Leeway never stretches it. A result <= 0
// means "do not store" (an already expired token, a negativeTTL of 0).
// now is called only when the answer has an expiry.
func Lifetime(c *introspection.Claims, maxTTL, negativeTTL time.Duration, now func() time.Time) time.Duration {
	if !c.Active {
		return negativeTTL
	}
	if c.Expiry.IsZero() {
		return maxTTL
	}
	return min(maxTTL, c.Expiry.Sub(now()))
}

// put stores claims for their Lifetime, compacted, and returns what the
// caller hands out: the stored claims (which every hit returns, so the
// memos keyed by them see one *Claims per token), or c when nothing was
// stored. tokenID is tokenid.Of of the token, indexed with the subject for
// revocation. gen is Generation() as read before the answer was asked for:
// an active answer is not stored when a revocation happened since, as it
// may predate it.
func (s *Store) put(key, tokenID string, c *introspection.Claims, gen uint64) *introspection.Claims {
	ttl := Lifetime(c, s.opts.MaxTTL, s.opts.NegativeTTL, s.opts.Now)
	if ttl <= 0 {
		return c
	}
	if !c.Active {
		if !s.makeRoom(false) {
			return c // full: the answer is not kept
		}
		cc := c.Compact(s.interner)
		s.negative.set(key, cc, ttl)
		return cc
	}
	if !s.makeRoom(true) {
		return c
	}
	cc := c.Compact(s.interner)
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	if s.idx.gen != gen {
		return c
	}
	s.idx.addLocked(key, tokenID, cc)
	s.positive.set(key, cc, ttl)
	return cc
}

// Generation counts the revocations (Delete calls) the store has seen.
func (s *Store) Generation() uint64 {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.gen
}

// Delete removes the entries under keys (as Key returns them), positive or
// negative, and returns how many were held. It also stops answers asked for
// before it from being stored (see put), so a lookup in flight during a
// revocation cannot bring the entry back.
func (s *Store) Delete(keys ...string) int {
	s.idx.mu.Lock()
	s.idx.gen++
	s.idx.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := s.positive.get(k); ok {
			n++
		} else if _, ok := s.negative.get(k); ok {
			n++
		}
		s.positive.delete(k) // unindexes it (OnEvicted)
		s.negative.delete(k)
	}
	return n
}

// KeysBySubject returns the keys of the positive entries whose sub is sub.
func (s *Store) KeysBySubject(sub string) []string {
	if sub == "" {
		return nil
	}
	return s.idx.keys(&s.idx.bySub, s.idx.subHash(sub), func(c *introspection.Claims) bool { return c.Subject == sub })
}

// KeysUndated returns the keys of the positive entries without iat whose
// claim ("sid" or "email", which events name a session and an address
// by) is the string value.
func (s *Store) KeysUndated(claim, value string) []string {
	if value == "" {
		return nil
	}
	return s.idx.keys(&s.idx.undated, s.idx.undatedHash(claim, value), func(c *introspection.Claims) bool {
		v, ok := c.StringClaim(claim)
		return ok && v == value && c.IssuedAt.IsZero()
	})
}

// KeysByTokenID returns the keys of the positive entries for tokens whose
// tokenid.Of is tokenID.
func (s *Store) KeysByTokenID(tokenID string) []string {
	id, ok := parseTokenID(tokenID)
	if !ok {
		return nil
	}
	return s.idx.keys(&s.idx.byTok, id, nil)
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
		s.sweep()
		if s.Len() < s.opts.MaxEntries {
			return true
		}
	}
	if positive {
		if s.negative.count() > 0 {
			s.negative.flush()
			return s.Len() < s.opts.MaxEntries
		}
	}
	return false
}
