package bearer

import (
	"regexp"
	"strings"
	"testing"
)

var b64token = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer", "Bearer a,b", "Bearer\tx", " Bearer x== ", "Bearer ä", "Bearer a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, res := Parse(header)
		switch res {
		case OK:
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
