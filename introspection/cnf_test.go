package introspection_test

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

// TestCnf reads cnf per RFC 7800, RFC 9449 and RFC 8705: what tokengate
// verifies is typed, what it cannot verify is Unverifiable (never an
// error: the answer itself is fine), and compacted claims (the cache's)
// read the same.
func TestCnf(t *testing.T) {
	const tp = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	long := strings.Repeat("a", 129)
	tests := []struct {
		cnf  string // the claim's JSON; "" leaves it out
		want introspection.Cnf
	}{
		{"", introspection.Cnf{}},
		{`null`, introspection.Cnf{}},
		{`{}`, introspection.Cnf{}},
		{`{"jkt":"` + tp + `"}`, introspection.Cnf{JKT: tp}},
		{`{"x5t#S256":"` + tp + `"}`, introspection.Cnf{X5T: tp}},
		{`{"jkt":"a","x5t#S256":"b","kid":"ignored"}`, introspection.Cnf{JKT: "a", X5T: "b"}},
		{`{"jkt":"\u0041b"}`, introspection.Cnf{JKT: "Ab"}},
		{`{"jkt":"` + long[:128] + `"}`, introspection.Cnf{JKT: long[:128]}},
		{`{"jkt":"` + long + `"}`, introspection.Cnf{Unverifiable: true}},
		{`"` + tp + `"`, introspection.Cnf{Unverifiable: true}},
		{`[{"jkt":"a"}]`, introspection.Cnf{Unverifiable: true}},
		{`42`, introspection.Cnf{Unverifiable: true}},
		{`true`, introspection.Cnf{Unverifiable: true}},
		{`{"jkt":42}`, introspection.Cnf{Unverifiable: true}},
		{`{"jkt":""}`, introspection.Cnf{Unverifiable: true}},
		{`{"jkt":null}`, introspection.Cnf{Unverifiable: true}},
		{`{"jkt":{"x":1}}`, introspection.Cnf{Unverifiable: true}},
		{`{"jkt":"a","x5t#S256":7}`, introspection.Cnf{Unverifiable: true}},
		{`{"x5t#S256":["a"]}`, introspection.Cnf{Unverifiable: true}},
		{`{"jwk":{"kty":"EC","crv":"P-256","x":"a","y":"b"}}`, introspection.Cnf{Unverifiable: true}},
		{`{"kid":"k1"}`, introspection.Cnf{Unverifiable: true}},
		{`{"x5t":"sha1-thumbprint"}`, introspection.Cnf{Unverifiable: true}},
		{`{"JKT":"` + tp + `"}`, introspection.Cnf{Unverifiable: true}}, // member names are case-sensitive
	}
	in := introspection.NewInterner()
	for _, tt := range tests {
		body := `{"active":true,"sub":"u","org":"x"`
		if tt.cnf != "" {
			body += `,"cnf":` + tt.cnf
		}
		body += "}"
		c, err := introspection.ParseClaims([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v (a cnf never makes the answer an error)", body, err)
		}
		if got := c.Cnf(); got != tt.want {
			t.Errorf("%s: Cnf() = %+v, want %+v", tt.cnf, got, tt.want)
		}
		if got := c.Compact(in).Cnf(); got != tt.want {
			t.Errorf("%s: compacted Cnf() = %+v, want %+v", tt.cnf, got, tt.want)
		}
	}
	if (&introspection.Claims{Active: true}).Cnf() != (introspection.Cnf{}) {
		t.Error("claims built by hand are unbound")
	}
}

// BenchmarkCnfUnbound is what every check of an unbound cached token pays
// for the sender binding: looking up a claim it does not have.
func BenchmarkCnfUnbound(b *testing.B) {
	c, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u","scope":"a b","org_id":"o","sid":"s","exp":1900000000}`))
	if err != nil {
		b.Fatal(err)
	}
	c = c.Compact(introspection.NewInterner())
	b.ReportAllocs()
	for b.Loop() {
		if c.Cnf().JKT != "" {
			b.Fatal("bound")
		}
	}
}
