package introspection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Claims is a parsed RFC 7662 introspection response.
//
// The registered claims tokengate enforces are typed fields; every claim of
// the response (registered or not) is kept, as raw JSON, so it can be
// mapped to upstream headers: Claim, RawClaims and Has read it. A Claims
// value is immutable once parsed and safe to share between goroutines.
type Claims struct {
	Active bool
	// compact marks claims made by Compact (see compact.go): Raw is nil,
	// and the response's claims are those in dropped, rebuilt from the
	// typed fields, and those in extra, as they arrived. audString: "aud"
	// arrived as a string. These fill the padding after Active.
	compact   bool
	audString bool
	dropped   uint16 // registered claims (bit regXxx) rebuilt from the typed fields
	kept      uint16 // registered claims held in extra

	Scopes    []string // from "scope" (split on U+0020 only, no empty parts), else from "scp" (elements split the same way)
	ClientID  string
	Username  string
	TokenType string
	Subject   string
	Issuer    string
	JTI       string
	Audience  []string // "aud" as a string becomes a one-element slice

	// Expiry, NotBefore and IssuedAt are zero when the claim is absent.
	Expiry    time.Time
	NotBefore time.Time
	IssuedAt  time.Time

	// Raw holds every non-null claim of the response as it arrived, in
	// claims ParseClaims returns; it is nil in compacted claims (what the
	// local cache holds), whose claims Claim, RawClaims and Has read.
	Raw map[string]json.RawMessage

	scope *string // Scopes joined, computed once at parse time (shared between compacted claims)
	extra string  // compacted claims: the claims not rebuilt from typed fields (see compact.go)
}

// HasScope reports whether the token carries scope s.
func (c *Claims) HasScope(s string) bool {
	for _, have := range c.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Has reports whether the response carried claim name with a value other
// than null. A present empty string is present: `"iss":""` is an issuer
// that matches no configured one, not a missing issuer.
func (c *Claims) Has(name string) bool {
	if c.compact {
		return c.compactHas(name)
	}
	_, ok := c.Raw[name]
	return ok
}

// Claim is claim name's raw JSON as the response carried it; ok is false
// when the response did not carry it (or carried null). The caller must
// not modify it.
func (c *Claims) Claim(name string) (v json.RawMessage, ok bool) {
	if c.compact {
		return c.compactClaim(name)
	}
	v, ok = c.Raw[name]
	return v, ok
}

// StringClaim is claim name when the response carried it as a JSON
// string; ok is false otherwise (absent, null, another type).
func (c *Claims) StringClaim(name string) (v string, ok bool) {
	raw, ok := c.Claim(name)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	return v, true
}

// UndatedIDs calls f with each claim by which a revocation event names a
// token besides its sub, "sid" and "email" (non-empty strings), when the
// token has no iat: an event cannot tell whether such a token predates
// it, so caches index those to evict them.
func (c *Claims) UndatedIDs(f func(claim, value string)) {
	if !c.IssuedAt.IsZero() {
		return
	}
	for _, claim := range [...]string{"sid", "email"} {
		if v, ok := c.StringClaim(claim); ok && v != "" {
			f(claim, v)
		}
	}
}

// RawClaims is every non-null claim of the response as it arrived: Raw,
// or for compacted claims a map built from them. The caller must not
// modify it.
func (c *Claims) RawClaims() map[string]json.RawMessage {
	if c.compact {
		return c.compactRawClaims()
	}
	return c.Raw
}

// ScopeString is the token's scopes space-separated, as "scope" carries them.
func (c *Claims) ScopeString() string {
	if c.scope == nil {
		if len(c.Scopes) > 0 { // built by hand rather than parsed
			return strings.Join(c.Scopes, " ")
		}
		return ""
	}
	return *c.scope
}

// ParseClaims decodes an introspection response body. A body that is not a
// JSON object, lacks a boolean "active", or has a registered claim of the
// wrong JSON type is an error wrapping ErrIntrospection: tokengate must not
// guess what a malformed answer meant. JSON null counts as absent.
func ParseClaims(body []byte) (*Claims, error) {
	raw, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospection, err)
	}
	for k, v := range raw {
		if isNull(v) {
			delete(raw, k)
		}
	}
	c := &Claims{Raw: raw}
	p := claimParser{raw: raw}
	active, ok := p.boolean("active")
	if !ok && p.err == nil {
		p.err = fmt.Errorf("no boolean \"active\"")
	}
	c.Active = active
	c.ClientID = p.str("client_id")
	c.Username = p.str("username")
	c.TokenType = p.str("token_type")
	c.Subject = p.str("sub")
	c.Issuer = p.str("iss")
	c.JTI = p.str("jti")
	c.Audience = p.stringOrArray("aud")
	c.Expiry = p.numericDate("exp")
	c.NotBefore = p.numericDate("nbf")
	c.IssuedAt = p.numericDate("iat")
	if _, has := raw["scope"]; has {
		c.Scopes = splitScopes(nil, p.str("scope"))
		p.array("scp") // still type-checked, but "scope" wins
	} else {
		for _, s := range p.array("scp") {
			c.Scopes = splitScopes(c.Scopes, s)
		}
	}
	if p.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospection, p.err)
	}
	scope := strings.Join(c.Scopes, " ")
	c.scope = &scope
	return c, nil
}

// splitScopes appends the scope-tokens of s to list. s is split on the
// space character (U+0020) only, as RFC 6749 §3.3 delimits scope, and empty
// parts are ignored. Other whitespace (TAB, LF, NBSP...) is not a delimiter:
// "x\u00a0user" is one scope, never "user". scp elements are split the same
// way, so that Scopes always equals ScopeString split on spaces.
func splitScopes(list []string, s string) []string {
	for part := range strings.SplitSeq(s, " ") {
		if part != "" {
			list = append(list, part)
		}
	}
	return list
}

// claimParser decodes typed claims, remembering the first type error.
type claimParser struct {
	raw map[string]json.RawMessage
	err error
}

func (p *claimParser) fail(name, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("claim %q is not %s", name, want)
	}
}

// claim decodes the claim name with decode, reporting it as not want when
// decode refuses it; ok is false then, and for an absent claim.
func claim[T any](p *claimParser, name, want string, decode func(json.RawMessage) (T, bool)) (v T, ok bool) {
	raw, has := p.raw[name]
	if !has {
		return v, false
	}
	if v, ok = decode(raw); !ok {
		p.fail(name, want)
	}
	return v, ok
}

// unmarshal is a decode for claim: JSON's own reading of v into a T.
func unmarshal[T any](v json.RawMessage) (T, bool) {
	var x T
	if err := json.Unmarshal(v, &x); err != nil {
		var zero T
		return zero, false
	}
	return x, true
}

func (p *claimParser) boolean(name string) (bool, bool) {
	return claim(p, name, "a boolean", unmarshal[bool])
}

func (p *claimParser) str(name string) string {
	s, _ := claim(p, name, "a string", unmarshal[string])
	return s
}

func (p *claimParser) array(name string) []string {
	a, _ := claim(p, name, "an array of strings", stringArray)
	return a
}

func (p *claimParser) stringOrArray(name string) []string {
	if v := p.raw[name]; len(v) > 0 && v[0] == '"' {
		return []string{p.str(name)}
	}
	a, _ := claim(p, name, "a string or an array of strings", stringArray)
	return a
}

// stringArray decodes an array whose every element is a string; null or any
// other element type is refused rather than turned into "".
func stringArray(v json.RawMessage) ([]string, bool) {
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil || elems == nil {
		return nil, false
	}
	a := make([]string, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &a[i]) != nil {
			return nil, false
		}
	}
	return a, true
}

// numericDate reads an RFC 7519 NumericDate: seconds since the epoch, integer
// or fractional.
func (p *claimParser) numericDate(name string) time.Time {
	f, ok := claim(p, name, "a number", func(v json.RawMessage) (float64, bool) {
		if len(v) == 0 || v[0] == '"' {
			return 0, false
		}
		return unmarshal[float64](v)
	})
	if !ok {
		return time.Time{}
	}
	// Clamp so that absurd values cannot overflow int64 (a wrapped "nbf"
	// would turn "valid in a million years" into "valid since forever").
	const limit = 1e15
	f = min(max(f, -limit), limit)
	sec := int64(f)
	nsec := int64((f - float64(sec)) * 1e9)
	return time.Unix(sec, nsec)
}

// decodeObject reads exactly one JSON object and nothing after it. A key
// that appears twice is refused: a proxy or log reader in between could take
// the other copy, so no single reading of such an answer is safe.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err != nil {
			return nil, fmt.Errorf("response is not a JSON object: %s", shortJSONError(err))
		}
		return nil, errors.New("response is not a JSON object: a JSON value, but not an object")
	}
	raw := make(map[string]json.RawMessage, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("response is not a JSON object: %s", shortJSONError(err))
		}
		key, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("response is not a JSON object: %s", shortJSONError(err))
		}
		if _, dup := raw[key]; dup {
			return nil, fmt.Errorf("claim %q appears twice", key)
		}
		raw[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("response is not a JSON object: %s", shortJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("response has data after the JSON object")
	}
	return raw, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// shortJSONError keeps a decoder error free of body content (which could
// echo a token) while still saying what kind of problem it was.
func shortJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return "invalid JSON syntax"
	case errors.As(err, &typeErr):
		return "not an object"
	}
	if err.Error() == "EOF" {
		return "empty body"
	}
	return "invalid JSON"
}
