// Package httpsyntax holds the few HTTP grammar checks (RFC 9110) that the
// configuration, the introspection client and the claim headers all apply,
// so that they agree on what a header name and a sendable value are.
package httpsyntax

// IsToken reports whether s is a non-empty RFC 9110 token (a header name,
// a method).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTChar(s[i]) {
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
