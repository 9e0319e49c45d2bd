package bearer

import (
	"regexp"
	"strings"
	"testing"
)

var b64token = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer", "Bearer a,b", "Bearer\tx", " Bearer x== ", "Bearer ä", "Bearer a\x00",
		"DPoP abc", "dpop  a.b.c", "DPoP", "DPoP a,b", "DPoPx", "DPoP\tx", "DPoP-Nonce x", "DPoP abc, Bearer def"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, scheme, res := Parse(header)
		if (res == Missing) != (scheme == SchemeNone) {
			t.Fatalf("Parse(%q): scheme %v with result %v", header, scheme, res)
		}
		switch res {
		case OK:
			if !strings.HasPrefix(strings.ToLower(strings.TrimLeft(header, " \t")), strings.ToLower(scheme.String())+" ") {
				t.Fatalf("Parse(%q): scheme %v is not the header's", header, scheme)
			}
			if !b64token.MatchString(token) || len(token) > MaxTokenLength {
				t.Fatalf("Parse(%q) accepted %q", header, token)
			}
			if !strings.Contains(header, token) {
				t.Fatalf("token %q is not from the header %q", token, header)
			}
			if len(ID(token)) != 12 {
				t.Fatal("token id is not 12 hex digits")
			}
		case Missing, Malformed:
			if token != "" {
				t.Fatalf("a token came with result %v", res)
			}
		default:
			t.Fatalf("unknown result %v", res)
		}
	})
}
