package dpop

import (
	"strings"

	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/httpsyntax"
)

// origin is a scheme and authority in the normal form of RFC 3986 §6:
// scheme and host in lower case, the port explicit (the scheme's default
// when absent or empty).
type origin struct {
	scheme string // "http" or "https"
	host   string // reg-name or IP literal, ASCII lower case
	port   int
}

// defaultPort returns the default port of the schemes htu may use.
func defaultPort(scheme string) (int, bool) {
	switch scheme {
	case "http":
		return 80, true
	case "https":
		return 443, true
	}
	return 0, false
}

// parseOrigin reads a configured "scheme://host[:port]", optionally with a
// trailing "/".
func parseOrigin(s string) (origin, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return origin{}, false
	}
	rest = strings.TrimSuffix(rest, "/")
	return parseAuthority(scheme, rest)
}

// parseAuthority reads host[:port] for a scheme. It refuses userinfo,
// percent-encoded or non-ASCII hosts and anything else a plain DNS name or
// IP literal does not have: such an authority matches nothing.
func parseAuthority(scheme, a string) (origin, bool) {
	scheme = httpsyntax.ToLower(scheme)
	def, ok := defaultPort(scheme)
	if !ok || a == "" {
		return origin{}, false
	}
	host, port := a, ""
	if a[0] == '[' {
		end := strings.IndexByte(a, ']')
		if end < 0 || !isIPLiteral(a[1:end]) {
			return origin{}, false
		}
		host, port = a[:end+1], a[end+1:]
		if port != "" && port[0] != ':' {
			return origin{}, false
		}
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i:]
	}
	if host == "" || (host[0] != '[' && !isRegName(host)) {
		return origin{}, false
	}
	n := def
	if port != "" {
		port = port[1:] // the ':'
		if p, ok := parsePort(port); ok {
			n = p
		} else if port != "" {
			return origin{}, false
		}
	}
	return origin{scheme: scheme, host: httpsyntax.ToLower(host), port: n}, true
}

// parsePort reads 1 to 5 decimal digits up to 65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// isRegName reports whether h is made of letters, digits, '-', '.', '_'
// and '~' only (RFC 3986 unreserved characters).
func isRegName(h string) bool {
	for i := 0; i < len(h); i++ {
		if !isAlnum(h[i]) && strings.IndexByte("-._~", h[i]) < 0 {
			return false
		}
	}
	return true
}

// isIPLiteral reports whether s (between the brackets) is made of hex
// digits, ':' and '.' (IPv6, possibly with an embedded IPv4 address).
func isIPLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) && s[i] != ':' && s[i] != '.' {
			return false
		}
	}
	return s != ""
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseHTU reads an htu claim: its origin and its path normalized like
// request paths (routing.NormalizePath), the query and fragment dropped and
// an empty path read as "/" (RFC 3986 §6.2.3).
func parseHTU(s string) (origin, string, bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return origin{}, "", false
	}
	authority, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	o, ok := parseAuthority(scheme, authority)
	if !ok {
		return origin{}, "", false
	}
	p, ok := routing.NormalizePath(path)
	return o, p, ok
}

// requestPath normalizes the request's path like htu's: the fragment, if
// any, is dropped too (NormalizePath drops the query).
func requestPath(p string) (string, bool) {
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	return routing.NormalizePath(p)
}

// equalPath compares two normalized paths, the hex digits of percent
// encodings case-insensitively (RFC 3986 §6.2.2.1).
func equalPath(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			if a[i] == '%' && i+2 < len(a) {
				if !httpsyntax.EqualFold(a[i+1:i+3], b[i+1:i+3]) {
					return false
				}
				i += 2
			}
			continue
		}
		return false
	}
	return true
}
