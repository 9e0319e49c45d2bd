package introspection_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{"active":true,"scope":"a b","aud":["x"],"exp":1.7e9}`, `{"active":false}`, `{'active':false}`,
		`{"active":true,"aud":"x","scp":["a"]}`, `{"active":"true"}`, `[]`, `null`, `{"active":true}}`,
		`{"active":true,"active":false}`, `{"active":true,"exp":1e400}`, `{"active":true,"nbf":-1e300}`,
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
		// A parsed answer had a boolean "active" that says the same.
		var probe struct{ Active *bool }
		if json.Unmarshal(body, &probe) != nil || probe.Active == nil || *probe.Active != c.Active {
			t.Fatalf("ParseClaims(%q) active=%v disagrees with the body", body, c.Active)
		}
		for _, s := range c.Scopes {
			if s == "" {
				t.Fatalf("empty scope from %q", body)
			}
		}
	})
}
