package routing

import (
	"strings"
	"unicode/utf8"
)

// NormalizePath returns the path that routes match against, or ok=false when
// the path must be refused with 400 before any route is considered.
//
// The query string is cut, percent-encoded unreserved characters are decoded
// and repeated slashes merged. Refused: a path not starting with "/", one
// with a "." or ".." segment (also when spelled %2e, and also when followed
// by ";parameters", as in "/..;/admin", which servlet containers resolve
// to "/admin"), one containing %2F,
// %5C or a backslash, a broken percent-encoding, or a control character.
// Upstreams resolve such paths in different orders, so no single reading of
// them is safe to authorize.
func NormalizePath(raw string) (string, bool) {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	if isClean(raw) {
		return raw, true // the common case: nothing to rewrite, no allocation
	}
	if !utf8.ValidString(raw) || strings.ContainsRune(raw, utf8.RuneError) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' || c < 0x20 || c == 0x7f:
			return "", false
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", false
			}
			d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			switch {
			case d == '/' || d == '\\':
				return "", false
			case isUnreserved(d):
				c = d
			default:
				b.WriteString(raw[i : i+3])
				i += 2
				continue
			}
			i += 2
		}
		if c == '/' && b.Len() > 0 && lastByte(&b) == '/' {
			continue
		}
		b.WriteByte(c)
	}
	p := b.String()
	if hasDotSegment(p) {
		return "", false
	}
	return p, true
}

// isClean reports whether p needs no rewriting and has nothing to refuse.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || c == '\\' || c < 0x20 || c >= 0x7f {
			return false
		}
		if c == '/' && i+1 < len(p) && p[i+1] == '/' {
			return false
		}
	}
	return !hasDotSegment(p)
}

func hasDotSegment(p string) bool {
	for p != "" {
		p = p[1:] // the leading slash of this segment
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i:]
		} else {
			p = ""
		}
		// Servlet containers strip ";parameters" from a segment before
		// resolving it, so "..;x" is ".." there.
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func lastByte(b *strings.Builder) byte {
	s := b.String()
	return s[len(s)-1]
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
