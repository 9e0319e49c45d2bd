// Package bearer extracts the access token from an Authorization header
// value, sent with the RFC 6750 Bearer scheme or the RFC 9449 DPoP scheme,
// with the strict syntax tokengate's contract gives: anything that is not
// exactly one well-formed b64token is refused before it can reach an
// authorization server. Everything here is pure and safe for concurrent use.
package bearer

import (
	"strings"

	"github.com/tokengate/tokengate/introspection/tokenid"
)

// MaxTokenLength is the longest token accepted, in bytes.
const MaxTokenLength = 8192

// Result says what an Authorization header holds.
type Result int

const (
	// Missing: no header, an empty one, or a scheme other than Bearer and
	// DPoP.
	Missing Result = iota
	// Malformed: the Bearer or DPoP scheme with no token, a token that is
	// not a b64token, or one longer than MaxTokenLength.
	Malformed
	// OK: exactly one well-formed token.
	OK
)

// Scheme is the authentication scheme a token came with.
type Scheme uint8

const (
	// SchemeNone: no scheme tokengate reads (with Missing).
	SchemeNone Scheme = iota
	// SchemeBearer: "Bearer" (RFC 6750), any case.
	SchemeBearer
	// SchemeDPoP: "DPoP" (RFC 9449 §7.1), any case: the token must come
	// with a DPoP proof and be bound to its key.
	SchemeDPoP
)

// String is the scheme's name as RFC 6750 and RFC 9449 spell it.
func (s Scheme) String() string {
	switch s {
	case SchemeBearer:
		return "Bearer"
	case SchemeDPoP:
		return "DPoP"
	}
	return "none"
}

// Parse reads an Authorization header value: the token and the scheme it
// came with. The token is returned only with OK; the scheme with OK and
// Malformed (SchemeNone with Missing).
func Parse(header string) (string, Scheme, Result) {
	v := strings.Trim(header, " \t")
	var scheme Scheme
	var rest string
	switch {
	case hasPrefixFold(v, "bearer"):
		scheme, rest = SchemeBearer, v[len("bearer"):]
	case hasPrefixFold(v, "dpop"):
		scheme, rest = SchemeDPoP, v[len("dpop"):]
	default:
		return "", SchemeNone, Missing
	}
	switch {
	case rest == "":
		return "", scheme, Malformed // "Bearer" alone
	case rest[0] == ' ':
		// the separator: one or more spaces
	case rest[0] == '\t' || rest[0] == ',':
		return "", scheme, Malformed // the scheme, then a broken separator
	default:
		return "", SchemeNone, Missing // another scheme, such as "Bearerabc"
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" || len(token) > MaxTokenLength || !isB64Token(token) {
		return "", scheme, Malformed
	}
	return token, scheme, OK
}

// hasPrefixFold reports whether s starts with the lowercase ASCII word
// prefix, in any case (ASCII only: no Unicode folding).
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isB64Token reports whether s matches [A-Za-z0-9\-._~+/]+=* (RFC 6750 §2.1).
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && isB64Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isB64Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}

// ID is the loggable identity of a token (tokenid.Of: the first 12 hex
// digits of its SHA-256). The token itself never appears in logs.
func ID(token string) string { return tokenid.Of(token) }
