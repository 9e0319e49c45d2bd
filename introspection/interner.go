package introspection

import (
	"encoding/binary"
	"strings"
	"sync"
)

// Interner hands the claims compacted with it one shared copy of the values
// many tokens of a tenant carry alike: client_id, iss, token_type, the
// scope set and the audience. It is bounded: it holds at most
// maxInterned values of at most maxInternedLen bytes each, and when full it
// starts over (claims compacted before keep what they were given). Safe for
// concurrent use; the zero value is ready.
type Interner struct {
	mu   sync.Mutex
	strs map[string]string
	sets map[string]scopeSet // scope sets, by the elements, each length-prefixed
	auds map[string][]string // the same
	n    int
	key  []byte
}

type scopeSet struct {
	joined *string
	list   []string
}

const (
	maxInterned    = 1024
	maxInternedLen = 1024
)

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{} }

// roomLocked makes room for one more value: when the Interner is full (or
// new), it starts over with empty maps.
func (in *Interner) roomLocked() {
	if in.strs == nil || in.n >= maxInterned {
		in.strs, in.sets, in.auds, in.n = map[string]string{}, map[string]scopeSet{}, map[string][]string{}, 0
	}
}

func (in *Interner) str(s string) (string, bool) {
	if in == nil || s == "" || len(s) > maxInternedLen {
		return "", false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.strs[s]; ok {
		return v, true
	}
	in.roomLocked()
	v := strings.Clone(s)
	in.strs[v] = v
	in.n++
	return v, true
}

// listKeyLocked is list's map key: each element preceded by its length.
func (in *Interner) listKeyLocked(list []string) []byte {
	k := in.key[:0]
	for _, s := range list {
		k = binary.AppendUvarint(k, uint64(len(s)))
		k = append(k, s...)
	}
	in.key = k
	return k
}

func (in *Interner) scopes(c *Claims) (*string, []string, bool) {
	joined := c.ScopeString()
	if in == nil || len(joined) > maxInternedLen {
		return nil, nil, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	k := in.listKeyLocked(c.Scopes)
	if v, ok := in.sets[string(k)]; ok {
		return v.joined, v.list, true
	}
	in.roomLocked()
	j := strings.Clone(joined)
	v := scopeSet{joined: &j, list: splitLike(j, c.Scopes)}
	in.sets[string(k)] = v
	in.n++
	return v.joined, v.list, true
}

func (in *Interner) audience(list []string) ([]string, bool) {
	if in == nil {
		return nil, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	k := in.listKeyLocked(list)
	if len(k) > maxInternedLen {
		return nil, false
	}
	if v, ok := in.auds[string(k)]; ok {
		return v, true
	}
	in.roomLocked()
	joined := strings.Join(list, " ")
	v := splitLike(joined, list)
	in.auds[string(k)] = v
	in.n++
	return v, true
}
