package config

import (
	"strings"
	"testing"
)

func TestUnknownKeysSuggestTheClosestKnownOne(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"audience", `, did you mean "audiences"?`},
		{"scope", `, did you mean "scopes"?`},
		{"clientid", `, did you mean "client_id"?`},
		{"pathprefix", `, did you mean "path_prefix"?`},
		{"methds", `, did you mean "methods"?`},
		{"color", ""}, // nothing close: no guess
		{"x", ""},
	} {
		got := suggest(tc.key, []string{"audiences", "scopes", "client_id", "path_prefix", "methods", "hosts"})
		if got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestErrorsSayLineAndColumn: every error about a place in the file says
// where, after "<path>: <message>".
func TestErrorsSayLineAndColumn(t *testing.T) {
	_, err := Parse([]byte(`tenants:
  - name: acme
    introspection: {url: "https://idp.example/i", auth_method: none}
    audience: ["api://x"]
routes:
  - name: r
    tenant: acme
    pathprefix: "/x"
`), nil, t.TempDir())
	if err == nil {
		t.Fatal("no error")
	}
	got := errorLines(err)
	want := []string{
		`tenants[0].audience: unknown key, did you mean "audiences"? (line 4, column 5)`,
		`routes[0].pathprefix: unknown key, did you mean "path_prefix"? (line 8, column 5)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
