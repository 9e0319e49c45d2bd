// Package memo is a small bounded cache for the check path: what a front end
// renders from a cached token's claims (its claim headers, its gRPC allow
// response) is computed once and looked up on later checks. A hit is a hash
// and two atomic loads with no write, so checks running on every core never
// contend on it, which a lock (even a read lock) would make them do.
package memo

import (
	"hash/maphash"
	"math/rand/v2"
	"sync/atomic"
)

// Cache maps keys to values, holding at most the number of entries it was
// made with (rounded up to a power of two). It is two-way set associative:
// each key may sit in one of two slots chosen by its hash; when both hold
// other keys, one of them, picked at random, is replaced. It forgets in no
// particular order, so it suits values that are cheap enough to compute
// again, and it never answers with another key's value. Safe for
// concurrent use; values are shared by every caller, so they must be
// immutable.
//
// The slots are allocated on the first Store: a cache that is never
// filled (an idle tenant's, among a thousand) costs a few words.
//
// Keys are compared with ==. Make them of pointers to the (immutable)
// objects a value is computed from: while an entry holds those pointers the
// objects cannot be collected and their addresses reused, so a stale entry
// is never mistaken for a new object's. Such entries cost memory only, and
// leave as new keys take their slots.
type Cache[K comparable, V any] struct {
	seed  maphash.Seed
	mask  uint64
	slots atomic.Pointer[slots[K, V]] // nil until the first Store
}

type slots[K comparable, V any] []atomic.Pointer[entry[K, V]]

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns an empty cache holding at most entries entries (at least 2).
func New[K comparable, V any](entries int) *Cache[K, V] {
	n := 2
	for n < entries {
		n <<= 1
	}
	return &Cache[K, V]{seed: maphash.MakeSeed(), mask: uint64(n - 1)}
}

// Len is the number of slots: the most entries the cache holds.
func (c *Cache[K, V]) Len() int { return int(c.mask + 1) }

// set is the first of k's two slots.
func (c *Cache[K, V]) set(k K) uint64 { return maphash.Comparable(c.seed, k) & c.mask &^ 1 }

// Load returns k's value, if the cache holds it.
func (c *Cache[K, V]) Load(k K) (v V, ok bool) {
	p := c.slots.Load()
	if p == nil {
		return v, false
	}
	s, i := *p, c.set(k)
	if e := s[i].Load(); e != nil && e.key == k {
		return e.val, true
	}
	if e := s[i+1].Load(); e != nil && e.key == k {
		return e.val, true
	}
	return v, false
}

// Store keeps v as k's value, in an empty slot of k's two if there is one,
// else in place of one of the two entries there. Concurrent Stores may
// overwrite each other: a key lost so is computed again on a later miss.
func (c *Cache[K, V]) Store(k K, v V) {
	p := c.slots.Load()
	if p == nil {
		fresh := make(slots[K, V], c.mask+1)
		if !c.slots.CompareAndSwap(nil, &fresh) {
			p = c.slots.Load() // another Store made them
		} else {
			p = &fresh
		}
	}
	s, i := *p, c.set(k)
	e := &entry[K, V]{key: k, val: v}
	for j := i; j <= i+1; j++ {
		if old := s[j].Load(); old == nil || old.key == k {
			s[j].Store(e)
			return
		}
	}
	s[i+(rand.Uint64()&1)].Store(e)
}
