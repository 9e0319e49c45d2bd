package cache

import (
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// shards is one go-cache split in n (a power of two) by the first byte of
// the key (a SHA-256, so evenly). go-cache's DeleteExpired holds the write
// lock while it walks every entry, and every lookup waits for it: a
// million entries hold it some 20 ms, longer when the sweeping goroutine
// is preempted. Swept shard by shard, lookups wait at most for one shard
// of entriesPerShard or so, and only those that fall in it.
type shards []*gocache.Cache

// entriesPerShard is how many entries (of MaxEntries) a shard is for.
const entriesPerShard = 16 << 10

// maxShards bounds the shards of one store.
const maxShards = 64

// shardCount is how many shards a store of maxEntries gets: one per
// entriesPerShard, rounded up to a power of two, at most maxShards.
func shardCount(maxEntries int) int {
	n := 1
	for n < maxShards && n*entriesPerShard < maxEntries {
		n <<= 1
	}
	return n
}

// newShards returns n empty go-caches, without janitors (the shared
// sweeper sweeps them), each calling onEvicted (when not nil).
func newShards(n int, onEvicted func(string, any)) shards {
	s := make(shards, n)
	for i := range s {
		s[i] = gocache.New(gocache.NoExpiration, 0)
		if onEvicted != nil {
			s[i].OnEvicted(onEvicted)
		}
	}
	return s
}

func (s shards) of(key string) *gocache.Cache {
	if key == "" {
		return s[0]
	}
	return s[int(key[0])&(len(s)-1)]
}

func (s shards) get(key string) (any, bool)               { return s.of(key).Get(key) }
func (s shards) set(key string, v any, ttl time.Duration) { s.of(key).Set(key, v, ttl) }
func (s shards) delete(key string)                        { s.of(key).Delete(key) }

// count is the number of entries, expired ones not yet swept included.
func (s shards) count() int {
	n := 0
	for _, c := range s {
		n += c.ItemCount()
	}
	return n
}

// deleteExpired sweeps the shards one after the other.
func (s shards) deleteExpired() {
	for _, c := range s {
		c.DeleteExpired()
	}
}

// flush deletes every entry (without eviction callbacks).
func (s shards) flush() {
	for _, c := range s {
		c.Flush()
	}
}
