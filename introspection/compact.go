package introspection

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The registered claims Compact may rebuild from the typed fields, by bit
// of Claims.dropped and Claims.kept.
const (
	regActive = iota
	regScope
	regScp
	regClientID
	regUsername
	regTokenType
	regSub
	regIss
	regJTI
	regAud
	regExp
	regNbf
	regIat
	numRegistered
)

// texts are the registered claims that are strings.
const texts = 1<<regScope | 1<<regClientID | 1<<regUsername | 1<<regTokenType | 1<<regSub | 1<<regIss | 1<<regJTI

var registeredNames = [numRegistered]string{
	"active", "scope", "scp", "client_id", "username", "token_type", "sub", "iss", "jti", "aud", "exp", "nbf", "iat",
}

// registered is name's reg constant, or -1 for another claim.
func registered(name string) int {
	switch name {
	case "active":
		return regActive
	case "scope":
		return regScope
	case "scp":
		return regScp
	case "client_id":
		return regClientID
	case "username":
		return regUsername
	case "token_type":
		return regTokenType
	case "sub":
		return regSub
	case "iss":
		return regIss
	case "jti":
		return regJTI
	case "aud":
		return regAud
	case "exp":
		return regExp
	case "nbf":
		return regNbf
	case "iat":
		return regIat
	}
	return -1
}

// Compact returns claims equal to c in every reading (the typed fields,
// ScopeString, HasScope, Has, Claim, RawClaims) in a fraction of the memory,
// for a cache to hold: where ParseClaims keeps a map with an allocation per
// claim name and value, compacted claims are the Claims struct and one
// string holding the per-token values (sub, jti, username) and the claims
// the typed fields cannot give back byte for byte (unknown claims such as
// org_id, and registered ones that arrived in another spelling, e.g. a
// fractional exp or escaped characters), as they arrived. A registered
// claim is dropped only when rebuilding it from its typed field gives the
// very bytes that arrived. Values many tokens share (client_id, iss,
// token_type, the scope set, the audience) come from in, which hands every
// claims compacted with it the same copy.
//
// c is not modified. Claims without Raw (built by hand, or compacted
// already) are returned as they are.
func (c *Claims) Compact(in *Interner) *Claims {
	if c.compact || c.Raw == nil {
		return c
	}
	n := &Claims{
		Active: c.Active, compact: true,
		Expiry: c.Expiry, NotBefore: c.NotBefore, IssuedAt: c.IssuedAt,
	}
	var others []string // the claims extra keeps
	var scratch [64]byte
	for name, raw := range c.Raw {
		r := registered(name)
		if r >= 0 {
			audString := r == regAud && len(raw) > 0 && raw[0] == '"'
			if rebuilt, ok := c.appendClaim(scratch[:0], r, audString); ok && bytes.Equal(rebuilt, raw) {
				n.dropped |= 1 << r
				n.audString = n.audString || audString
				continue
			}
			n.kept |= 1 << r
		}
		others = append(others, name)
	}
	slices.Sort(others)

	// One string holds what is this token's own; pieces say where each
	// part goes.
	var pieces []piece
	add := func(dst *string, s string) {
		if s != "" {
			pieces = append(pieces, piece{dst: dst, s: s})
		}
	}
	add(&n.Subject, c.Subject)
	add(&n.JTI, c.JTI)
	add(&n.Username, c.Username)
	for _, f := range [...]struct {
		dst *string
		s   string
	}{{&n.ClientID, c.ClientID}, {&n.TokenType, c.TokenType}, {&n.Issuer, c.Issuer}} {
		if s, ok := in.str(f.s); ok {
			*f.dst = s
		} else {
			add(f.dst, f.s)
		}
	}
	var scope *string // scopes joined, when not interned
	var ok bool
	if len(c.Scopes) == 0 {
		n.Scopes = c.Scopes // nil, or empty: no memory of its own
	} else if n.scope, n.Scopes, ok = in.scopes(c); !ok {
		scope = new(string)
		add(scope, c.ScopeString())
	}
	var audience []string // when not interned
	if len(c.Audience) == 0 {
		n.Audience = c.Audience
	} else if n.Audience, ok = in.audience(c.Audience); !ok {
		audience = make([]string, len(c.Audience))
		for i, a := range c.Audience {
			add(&audience[i], a)
		}
	}
	var extra []byte
	for _, name := range others {
		v := c.Raw[name]
		extra = binary.AppendUvarint(extra, uint64(len(name)))
		extra = append(extra, name...)
		extra = binary.AppendUvarint(extra, uint64(len(v)))
		extra = append(extra, v...)
	}
	size := len(extra)
	for _, p := range pieces {
		size += len(p.s)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, p := range pieces {
		sb.WriteString(p.s)
	}
	sb.Write(extra)
	blob := sb.String()
	at := 0
	for _, p := range pieces {
		*p.dst = blob[at : at+len(p.s)]
		at += len(p.s)
	}
	n.extra = blob[at:]
	if scope != nil {
		n.scope = scope
		n.Scopes = splitLike(*scope, c.Scopes)
	}
	if audience != nil {
		n.Audience = audience
	}
	return n
}

// piece is one string of Compact's per-token string, and the field that
// gets its copy.
type piece struct {
	dst *string
	s   string
}

// splitLike cuts joined (the elements of like joined with spaces) back into
// elements of like's lengths, as substrings of joined.
func splitLike(joined string, like []string) []string {
	out := make([]string, len(like))
	at := 0
	for i, s := range like {
		out[i] = joined[at : at+len(s)]
		at += len(s) + 1
	}
	return out
}

// appendClaim appends registered claim r as JSON rebuilt from the typed
// fields; ok is false for a claim that cannot be (scp, a fractional
// NumericDate, an "aud" string with other than one element).
func (c *Claims) appendClaim(dst []byte, r int, audString bool) (_ []byte, ok bool) {
	quoted := func(s string) []byte {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	date := func(t time.Time) ([]byte, bool) {
		if t.Nanosecond() != 0 {
			return dst, false
		}
		return strconv.AppendInt(dst, t.Unix(), 10), true
	}
	if texts&(1<<r) != 0 {
		text := [numRegistered]string{regScope: c.ScopeString(), regClientID: c.ClientID, regUsername: c.Username,
			regTokenType: c.TokenType, regSub: c.Subject, regIss: c.Issuer, regJTI: c.JTI}
		return quoted(text[r]), true
	}
	switch r {
	case regActive:
		return strconv.AppendBool(dst, c.Active), true
	case regAud:
		if audString {
			if len(c.Audience) != 1 {
				return dst, false
			}
			return quoted(c.Audience[0]), true
		}
		dst = append(dst, '[')
		for i, a := range c.Audience {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = quoted(a)
		}
		return append(dst, ']'), true
	case regExp:
		return date(c.Expiry)
	case regNbf:
		return date(c.NotBefore)
	case regIat:
		return date(c.IssuedAt)
	}
	return dst, false
}

func (c *Claims) compactHas(name string) bool {
	if r := registered(name); r >= 0 {
		return (c.dropped|c.kept)&(1<<r) != 0
	}
	_, ok := c.extraClaim(name)
	return ok
}

func (c *Claims) compactClaim(name string) (json.RawMessage, bool) {
	r := registered(name)
	if r >= 0 && c.dropped&(1<<r) != 0 {
		return c.appendClaim(nil, r, c.audString)
	}
	if r >= 0 && c.kept&(1<<r) == 0 {
		return nil, false
	}
	v, ok := c.extraClaim(name)
	if !ok {
		return nil, false
	}
	return json.RawMessage(v), true
}

func (c *Claims) compactRawClaims() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, numRegistered)
	for r := range numRegistered {
		if c.dropped&(1<<r) != 0 {
			m[registeredNames[r]], _ = c.appendClaim(nil, r, c.audString)
		}
	}
	for rest := c.extra; rest != ""; {
		var name, v string
		name, v, rest = nextExtra(rest)
		m[name] = json.RawMessage(v)
	}
	return m
}

// extraClaim finds name among the claims extra keeps.
func (c *Claims) extraClaim(name string) (string, bool) {
	for rest := c.extra; rest != ""; {
		var n, v string
		n, v, rest = nextExtra(rest)
		if n == name {
			return v, true
		}
	}
	return "", false
}

// nextExtra reads one claim of Claims.extra: its name and value, each
// preceded by its length (uvarint), then the rest.
func nextExtra(s string) (name, value, rest string) {
	name, s = lengthPrefixed(s)
	value, rest = lengthPrefixed(s)
	return name, value, rest
}

func lengthPrefixed(s string) (field, rest string) {
	var n uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		b := s[i]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			s = s[i+1:]
			if n > uint64(len(s)) { // never: Compact wrote it
				return s, ""
			}
			return s[:n], s[n:]
		}
		shift += 7
	}
	return "", ""
}
