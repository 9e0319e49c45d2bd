// Package claimheaders turns a token's claims into the request headers the
// upstream sees on an allow, and lists the headers that must be removed so a
// client can never smuggle one in.
package claimheaders

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/tokengate/tokengate/extauthz/internal/memo"
	"github.com/tokengate/tokengate/httpsyntax"
	"github.com/tokengate/tokengate/introspection"
)

// Header is one header to set on the upstream request.
type Header struct{ Name, Value string }

// ClaimHeader maps one claim to one lowercase header name.
type ClaimHeader struct{ Claim, Header string }

// Options configures an Injector.
type Options struct {
	Claims             []ClaimHeader
	ClaimsHeader       string   // all claims as base64url(JSON) in this header; "" = off
	StripAuthorization bool     // remove Authorization and DPoP before the upstream sees them
	AlsoRemove         []string // claim headers other tenants configure: removed as well
}

// Injector computes one tenant's headers. Its settings are immutable; it
// keeps the headers of recent claims, and is safe for concurrent use.
type Injector struct {
	claims       []ClaimHeader
	claimsHeader string
	remove       []string // AlsoRemove (+ authorization, dpop), always removed
	// applied holds the headers of recent claims: a cached token's claims
	// are the same *Claims on every check, and formatting them (the
	// all-claims header's JSON above all) would otherwise be done for each.
	applied *memo.Cache[*introspection.Claims, applied]
}

// appliedEntries bounds an Injector's cache of computed headers (one per
// cached token of its tenant).
const appliedEntries = 4096

// New builds an Injector; names must already be lowercase.
func New(o Options) *Injector {
	in := &Injector{claims: o.Claims, claimsHeader: o.ClaimsHeader,
		applied: memo.New[*introspection.Claims, applied](appliedEntries)}
	own := map[string]bool{o.ClaimsHeader: true}
	for _, ch := range o.Claims {
		own[ch.Header] = true
	}
	for _, h := range o.AlsoRemove {
		if !own[h] {
			in.remove = append(in.remove, h)
			own[h] = true
		}
	}
	if o.StripAuthorization {
		// The DPoP proof is a credential too (RFC 9449): it goes with the
		// token it was made for.
		in.remove = append(in.remove, "authorization", "dpop")
	}
	return in
}

// Apply returns the headers to set and to remove for an allow with claims c.
// A configured header whose claim is absent, null, or not safe to send is
// removed instead of set. The result is computed once per claims while the
// Injector keeps it, and shared: callers must not modify the slices.
func (in *Injector) Apply(c *introspection.Claims) (set []Header, remove []string) {
	a, ok := in.applied.Load(c)
	if !ok {
		a = in.apply(c)
		in.applied.Store(c, a)
	}
	return a.set, a.remove
}

type applied struct {
	set    []Header
	remove []string
}

func (in *Injector) apply(c *introspection.Claims) applied {
	var set []Header
	var remove []string
	set = make([]Header, 0, len(in.claims)+1)
	remove = make([]string, 0, len(in.remove)+len(in.claims))
	for _, ch := range in.claims {
		raw, _ := c.Claim(ch.Claim)
		if v, ok := FormatValue(raw); ok {
			set = append(set, Header{ch.Header, v})
		} else {
			remove = append(remove, ch.Header)
		}
	}
	if in.claimsHeader != "" {
		if v, ok := encodeAll(c.RawClaims()); ok {
			set = append(set, Header{in.claimsHeader, v})
		} else {
			remove = append(remove, in.claimsHeader)
		}
	}
	return applied{set: set, remove: append(remove, in.remove...)}
}

// Names lists every header an Injector may set, for public routes that strip them all.
func (in *Injector) Names() []string {
	names := make([]string, 0, len(in.claims)+1)
	for _, ch := range in.claims {
		names = append(names, ch.Header)
	}
	if in.claimsHeader != "" {
		names = append(names, in.claimsHeader)
	}
	return names
}

// FormatValue renders one claim as a header value: strings as they are,
// numbers in decimal without exponent, booleans as true/false, arrays joined
// with "," (elements formatted the same way, nulls skipped), objects as
// compact JSON. ok is false for an absent or null claim and for a value
// holding a control character (below 0x20 other than TAB, or 0x7F).
func FormatValue(raw json.RawMessage) (string, bool) {
	v, ok := format(raw)
	if !ok || !httpsyntax.IsSafeValue(v) {
		return "", false
	}
	return v, true
}

func format(raw json.RawMessage) (string, bool) {
	raw = trimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case 't', 'f':
		return string(raw), string(raw) == "true" || string(raw) == "false"
	case 'n':
		return "", false
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return "", false
		}
		parts := make([]string, 0, len(elems))
		for _, e := range elems {
			if s, ok := format(e); ok {
				parts = append(parts, s)
			} else if string(trimSpace(e)) != "null" {
				return "", false
			}
		}
		return strings.Join(parts, ","), true
	case '{':
		var b strings.Builder
		if err := compact(&b, raw); err != nil {
			return "", false
		}
		return b.String(), true
	default:
		return decimal(string(raw))
	}
}

func encodeAll(claims map[string]json.RawMessage) (string, bool) {
	body, err := json.Marshal(claims) // compact, keys sorted
	if err != nil {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(body), true
}

func trimSpace(b []byte) []byte {
	return []byte(strings.TrimSpace(string(b)))
}
