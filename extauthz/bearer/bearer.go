// Package bearer extracts an RFC 6750 bearer token from an Authorization
// header value, with the strict syntax tokengate's contract gives: anything
// that is not exactly one well-formed b64token is refused before it can reach
// an authorization server.
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
	// Missing: no header, an empty one, or a scheme other than Bearer.
	Missing Result = iota
	// Malformed: the Bearer scheme with no token, a token that is not a
	// b64token, or one longer than MaxTokenLength.
	Malformed
	// OK: exactly one well-formed token.
	OK
)

// Parse reads an Authorization header value. The token is returned only with OK.
func Parse(header string) (string, Result) {
	v := strings.Trim(header, " \t")
	const scheme = "bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", Missing
	}
	rest := v[len(scheme):]
	switch {
	case rest == "":
		return "", Malformed // "Bearer" alone
	case rest[0] == ' ':
		// the separator: one or more spaces
	case rest[0] == '\t' || rest[0] == ',':
		return "", Malformed // Bearer scheme, broken separator
	default:
		return "", Missing // another scheme, such as "Bearerabc"
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" || len(token) > MaxTokenLength || !isB64Token(token) {
		return "", Malformed
	}
	return token, OK
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
