package introspection_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{"active":true,"scope":"a b","aud":["x"],"exp":1.7e9}`, `{"active":false}`, `{'active':false}`,
		`{"active":true,"aud":"x","scp":["a"]}`, `{"active":"true"}`, `[]`, `null`, `{"active":true}}`,
		`{"active":true,"active":false}`, `{"active":true,"exp":1e400}`, `{"active":true,"nbf":-1e300}`,
		`{"active":true,"scope":"x\u00a0user"}`, `{"active":true,"scope":"a\tb\nc\rd\u2003e\u3000f\u0085g"}`,
		`{"active":true,"scope":"  a   b  "}`, `{"active":true,"scope":" "}`, `{"active":true,"scope":"\u00a0"}`,
		`{"active":true,"scp":["a b",""," ","c\u00a0d"]}`, `{"active":true,"scope":null,"scp":["x"]}`,
		`{"active":true,"iss":"","token_type":""}`, `{"active":true,"iss":null,"token_type":null,"sub":null}`,
		`{"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`, `{"active":true,"cnf":{"x5t#S256":"x","jkt":1}}`,
		`{"active":true,"cnf":"jkt"}`, `{"active":true,"cnf":{"jwk":{}}}`, `{"active":true,"cnf":{}}`, `{"active":true,"cnf":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := introspection.ParseClaims(body)
		if err != nil {
			if !errors.Is(err, introspection.ErrIntrospection) || c != nil {
				t.Fatalf("error %v with claims %v", err, c)
			}
			return
		}
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			t.Fatalf("parsed %q, which encoding/json refuses", body)
		}
		// A parsed answer had a boolean "active" that says the same. (Claim
		// names are case-sensitive: a struct probe would also read "ACTive".)
		var active *bool
		if json.Unmarshal(raw["active"], &active) != nil || active == nil || *active != c.Active {
			t.Fatalf("ParseClaims(%q) active=%v disagrees with the body", body, c.Active)
		}
		// Scopes are split on U+0020 only: a part is never empty and never
		// holds a space, but may hold other whitespace (NBSP, TAB...), and
		// ScopeString is exactly the parts joined by spaces.
		for _, s := range c.Scopes {
			if s == "" || strings.Contains(s, " ") {
				t.Fatalf("scope %q from %q", s, body)
			}
		}
		if got := strings.Join(c.Scopes, " "); c.ScopeString() != got {
			t.Fatalf("ScopeString() = %q, Scopes %q from %q", c.ScopeString(), c.Scopes, body)
		}
		present := func(k string) bool { v, ok := raw[k]; return ok && string(v) != "null" }
		if present("scope") {
			var scope string
			if json.Unmarshal(raw["scope"], &scope) != nil {
				t.Fatalf("a non-string scope parsed from %q", body)
			}
			var want []string
			for _, s := range strings.Split(scope, " ") {
				if s != "" {
					want = append(want, s)
				}
			}
			if strings.Join(want, "\x00") != strings.Join(c.Scopes, "\x00") || len(want) != len(c.Scopes) {
				t.Fatalf("scope %q gave %q, want %q", scope, c.Scopes, want)
			}
		}
		// cnf never makes the answer an error; what it binds is typed, or
		// unverifiable and nothing else.
		if cnf := c.Cnf(); cnf.Unverifiable && (cnf.JKT != "" || cnf.X5T != "") || !present("cnf") && cnf != (introspection.Cnf{}) {
			t.Fatalf("Cnf() = %+v for %q", cnf, body)
		}
		// A present value (an empty string included) is present; null is absent.
		for _, k := range []string{"iss", "token_type", "sub", "scope", "aud"} {
			if c.Has(k) != present(k) {
				t.Fatalf("Has(%q) = %v for %q", k, c.Has(k), body)
			}
		}
	})
}
