package dpop

import (
	"container/heap"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// Defaults of NewMemoryReplayCache.
const (
	DefaultReplayEntries = 1 << 20
	DefaultReplayShards  = 64
)

// ErrReplayCacheFull is returned by MemoryReplayCache.Seen when the jti's
// shard holds its share of MaxEntries unexpired entries. The proof must be
// refused: the cache never forgets a live jti to make room.
var ErrReplayCacheFull = errors.New("DPoP replay cache is full")

// MemoryOptions configure a MemoryReplayCache.
type MemoryOptions struct {
	// MaxEntries bounds the jtis remembered at once; 0: DefaultReplayEntries.
	// Each shard holds MaxEntries/Shards, so the first refusal comes at
	// about 95% of MaxEntries. An entry takes about 80 bytes (the default
	// is about 85 MB when full); like Go maps, the shards keep the memory
	// of their largest size.
	MaxEntries int
	// Shards is the number of independently locked parts (rounded up to a
	// power of two); 0: DefaultReplayShards.
	Shards int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// MemoryReplayCache is a ReplayCache for one process: bounded, sharded and
// lock-striped. A jti hashes (with a random per-cache salt, so that clients
// cannot aim at one shard) to one shard with its own mutex; no lock is
// shared by all checks. It is safe for concurrent use.
//
// Eviction fails closed: an entry leaves only when it expires (each shard
// keeps its entries in a min-heap by expiry and drops the expired ones on
// every call). A shard full of live entries refuses new jtis with
// ErrReplayCacheFull rather than forgetting one, so a replay is never
// accepted for lack of room; the price is that new proofs hashing to that
// shard are refused until entries expire (at most the ttl). Entries are
// keyed by 128 bits of SHA-256 over salt, tenant and jti; a collision, as
// unlikely as guessing the salt, would refuse a fresh proof, never accept a
// replay.
type MemoryReplayCache struct {
	shards   []replayShard
	mask     uint64
	perShard int
	salt     [16]byte
	now      func() time.Time
}

type replayShard struct {
	mu      sync.Mutex
	expires map[replayKey]int64 // Unix nanoseconds
	order   expiryHeap
	_       [64]byte // keeps shards' mutexes on separate cache lines
}

type replayKey [16]byte

// NewMemoryReplayCache returns an empty cache.
func NewMemoryReplayCache(o MemoryOptions) *MemoryReplayCache {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultReplayEntries
	}
	if o.Shards <= 0 {
		o.Shards = DefaultReplayShards
	}
	n := 1
	for n < o.Shards {
		n <<= 1
	}
	c := &MemoryReplayCache{
		shards:   make([]replayShard, n),
		mask:     uint64(n - 1),
		perShard: max(1, (o.MaxEntries+n-1)/n),
		now:      o.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	_, _ = rand.Read(c.salt[:]) // never fails (crypto/rand documents it)
	for i := range c.shards {
		c.shards[i].expires = make(map[replayKey]int64)
	}
	return c
}

// Seen implements ReplayCache. ttl must be positive.
func (c *MemoryReplayCache) Seen(ctx context.Context, tenant, jti string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, errors.New("dpop: replay ttl must be positive")
	}
	k := c.key(tenant, jti)
	s := &c.shards[binary.LittleEndian.Uint64(k[:8])&c.mask]
	now := c.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if _, ok := s.expires[k]; ok {
		return true, nil
	}
	if len(s.expires) >= c.perShard {
		return false, ErrReplayCacheFull
	}
	exp := now + int64(ttl)
	s.expires[k] = exp
	heap.Push(&s.order, expiry{key: k, at: exp})
	return false, nil
}

// Len returns the number of entries held, expired ones not yet dropped
// included.
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.expires)
		s.mu.Unlock()
	}
	return n
}

// key hashes salt, tenant (length-prefixed) and jti.
func (c *MemoryReplayCache) key(tenant, jti string) replayKey {
	var buf [16 + 8 + 64 + MaxJTIBytes]byte
	b := append(buf[:0], c.salt[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tenant)))
	b = append(b, tenant...)
	b = append(b, jti...)
	sum := sha256.Sum256(b)
	var k replayKey
	copy(k[:], sum[:])
	return k
}

// expire drops the entries whose time has come; s.mu is held. Every key is
// in the heap once (it is added only when absent from the map).
func (s *replayShard) expire(now int64) {
	for len(s.order) > 0 && s.order[0].at <= now {
		e, _ := heap.Pop(&s.order).(expiry)
		delete(s.expires, e.key)
	}
}

type expiry struct {
	key replayKey
	at  int64
}

// expiryHeap is a min-heap by expiry (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any) {
	if e, ok := x.(expiry); ok {
		*h = append(*h, e)
	}
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
