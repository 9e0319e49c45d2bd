// Package httpsyntax holds the few HTTP grammar checks (RFC 9110) that the
// configuration, the introspection client and the claim headers all apply,
// so that they agree on what a header name and a sendable value are.
package httpsyntax

// IsToken reports whether s is a non-empty RFC 9110 token (a header name,
// a method).
func IsToken(s string) bool { return OneOrMore(s, isTChar) }

// OneOrMore reports whether s is one or more bytes that all satisfy ok:
// an ABNF 1*rule, such as a token (1*tchar) or the names the
// configuration allows.
func OneOrMore(s string, ok func(c byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isTChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// IsSafeValue reports whether v can be sent as a header value: no control
// character other than TAB (so no CR, LF or NUL that could split or corrupt
// a request), and no DEL.
func IsSafeValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ToLower lowers ASCII letters only. Hosts, header names and methods are
// ASCII-case-insensitive (RFC 9110); Unicode case mapping would turn, e.g.,
// U+212A KELVIN SIGN into "k". Bytes >= 0x80 are kept as they are.
func ToLower(s string) string { return flipCase(s, 'A', 'Z') }

// ToUpper raises ASCII letters only (see ToLower): U+017F LATIN SMALL
// LETTER LONG S stays as it is instead of becoming "S".
func ToUpper(s string) string { return flipCase(s, 'a', 'z') }

// flipCase flips the case of the ASCII letters from first to last (one
// case's range); s itself when it has none.
func flipCase(s string, first, last byte) string {
	for i := 0; i < len(s); i++ {
		if first <= s[i] && s[i] <= last {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if first <= b[j] && b[j] <= last {
					b[j] ^= 'a' - 'A' // the case bit
				}
			}
			return string(b)
		}
	}
	return s
}

// EqualFold reports whether a and b are equal under ASCII case folding
// only (see ToLower).
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
