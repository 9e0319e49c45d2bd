package cache

import (
	"hash/maphash"
	"sync"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

// index maps subjects and token ids to the keys of positive entries, for
// revocation. It is touched on stores and evictions only, never on hits.
//
// Per entry it holds one slot (a 64-bit name and a string header) in each
// of two maps; the strings are the very keys the positive go-caches hold,
// so they cost no memory of their own. Subjects are named by a 64-bit
// hash, so a lookup checks each candidate's claims; token ids (48 bits of
// SHA-256) are used as they are. A token's id is not kept with its entry,
// so an evicted entry's byTok slot stays until the next prune (the key is
// still the same token's should it come back); prunes happen once the
// evictions since the last one reach half of byTok, so their cost per
// eviction is constant.
type index struct {
	mu    sync.Mutex
	gen   uint64
	seed  maphash.Seed
	bySub keySets // by subHash of the subject
	byTok keySets // by the token id's 48 bits
	// undated holds the entries without iat, by undatedHash of their sid
	// and of their email: an event about a session or an address cannot
	// tell whether such a token predates it, so it evicts them (tokens
	// with iat are judged by the event's marker instead). Most servers
	// send iat, so this is usually empty.
	undated  keySets
	tokStale int    // positive entries evicted since byTok was last pruned
	positive shards // the store's, set by NewStore
}

// pruneAfter is the fewest evictions that make a prune of byTok worth it.
const pruneAfter = 4096

func newIndex() *index {
	return &index{seed: maphash.MakeSeed(), bySub: newKeySets(), byTok: newKeySets(), undated: newKeySets()}
}

func (x *index) subHash(sub string) uint64 { return maphash.String(x.seed, sub) }

// undatedHash names claim's value in index.undated.
func (x *index) undatedHash(claim, value string) uint64 {
	return maphash.String(x.seed, claim+"\x00"+value)
}

// undatedNames calls f with the undated names of c: none when c has iat.
func (x *index) undatedNames(c *introspection.Claims, f func(uint64)) {
	c.UndatedIDs(func(claim, value string) { f(x.undatedHash(claim, value)) })
}

// addLocked indexes the positive entry c about to be stored under key.
func (x *index) addLocked(key, tokenID string, c *introspection.Claims) {
	if old, ok := x.claims(key); ok {
		x.unindexLocked(key, old) // an overwrite: go-cache reports no eviction then
	}
	if c.Subject != "" {
		x.bySub.add(x.subHash(c.Subject), key)
	}
	x.undatedNames(c, func(name uint64) { x.undated.add(name, key) })
	if id, ok := parseTokenID(tokenID); ok {
		x.byTok.add(id, key)
	}
}

// unindexLocked removes key, whose entry is c, from the subject and
// undated sets (byTok is pruned instead: see index).
func (x *index) unindexLocked(key string, c *introspection.Claims) {
	if c.Subject != "" {
		x.bySub.remove(x.subHash(c.Subject), key)
	}
	x.undatedNames(c, func(name uint64) { x.undated.remove(name, key) })
}

// evicted unindexes the positive entry c that left key.
func (x *index) evicted(key string, c *introspection.Claims) {
	if c == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unindexLocked(key, c)
	x.tokStale++
	if x.tokStale >= pruneAfter && 2*x.tokStale >= x.byTok.n {
		x.pruneLocked()
	}
}

// pruneLocked drops the byTok slots whose entry is gone.
func (x *index) pruneLocked() {
	for id, k := range x.byTok.one {
		if _, ok := x.claims(k); !ok {
			x.byTok.remove(id, k)
		}
	}
	for id, set := range x.byTok.more {
		for k := range set {
			if _, ok := x.claims(k); !ok {
				x.byTok.remove(id, k)
			}
		}
	}
	x.tokStale = 0
}

// claims is what the positive store holds under key.
func (x *index) claims(key string) (*introspection.Claims, bool) {
	v, ok := x.positive.get(key)
	if !ok {
		return nil, false
	}
	c, ok := v.(*introspection.Claims)
	return c, ok
}

// keys returns the keys under name in m whose entries are held and, when
// match is not nil, match.
func (x *index) keys(m *keySets, name uint64, match func(*introspection.Claims) bool) []string {
	x.mu.Lock()
	cands := m.appendKeys(nil, name)
	x.mu.Unlock()
	out := cands[:0]
	for _, k := range cands {
		if c, ok := x.claims(k); ok && (match == nil || match(c)) {
			out = append(out, k)
		}
	}
	return out
}

// keySets maps a name to a set of keys: the first in one, any others in
// more (many tokens of one subject).
type keySets struct {
	one  map[uint64]string
	more map[uint64]map[string]struct{}
	n    int // keys held
}

func newKeySets() keySets {
	return keySets{one: map[uint64]string{}, more: map[uint64]map[string]struct{}{}}
}

func (m *keySets) add(name uint64, k string) {
	first, ok := m.one[name]
	switch {
	case !ok:
		m.one[name] = k
	case first == k:
		return
	default:
		set := m.more[name]
		if set == nil {
			set = map[string]struct{}{}
			m.more[name] = set
		}
		if _, dup := set[k]; dup {
			return
		}
		set[k] = struct{}{}
	}
	m.n++
}

func (m *keySets) remove(name uint64, k string) {
	first, ok := m.one[name]
	if !ok {
		return
	}
	set := m.more[name]
	if first == k {
		m.n--
		for other := range set { // promote one of the others
			m.one[name] = other
			delete(set, other)
			if len(set) == 0 {
				delete(m.more, name)
			}
			return
		}
		delete(m.one, name)
		return
	}
	if _, held := set[k]; held {
		m.n--
		delete(set, k)
		if len(set) == 0 {
			delete(m.more, name)
		}
	}
}

func (m *keySets) appendKeys(out []string, name uint64) []string {
	first, ok := m.one[name]
	if !ok {
		return out
	}
	out = append(out, first)
	for k := range m.more[name] {
		out = append(out, k)
	}
	return out
}

// parseTokenID reads a token id as tokenid.Of writes it (12 lowercase hex
// digits); any other string is no token's id.
func parseTokenID(s string) (uint64, bool) {
	if len(s) != tokenid.Len {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			id = id<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			id = id<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return id, true
}
