package claimheaders

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{`"user-1"`, "user-1", true},
		{`"with\ttab"`, "with\ttab", true},
		{`"ünïcode"`, "ünïcode", true},
		{`""`, "", true},
		{`42`, "42", true},
		{`-7`, "-7", true},
		{`1700000000`, "1700000000", true},
		{`1.7e9`, "1700000000", true},
		{`1E3`, "1000", true},
		{`1e+3`, "1000", true},
		{`2.0`, "2", true},
		{`1.50`, "1.5", true},
		{`0.5`, "0.5", true},
		{`1.5e-3`, "0.0015", true},
		{`-0.0`, "0", true},
		{`12345678901234567890123`, "12345678901234567890123", true},
		{`1e5000`, "", false},
		{`1e2`, "100", true},
		{`true`, "true", true},
		{`false`, "false", true},
		{`null`, "", false},
		{``, "", false},
		{`["a","b"]`, "a,b", true},
		{`["a",1,true,2.50]`, "a,1,true,2.5", true},
		{`["a",null,"b"]`, "a,b", true},
		{`[]`, "", true},
		{`[["a","b"],"c"]`, "a,b,c", true},
		{`[{"k": 1}]`, `{"k":1}`, true},
		{`{"b": 1, "a": [1, 2]}`, `{"b":1,"a":[1,2]}`, true},
		{`"line\nbreak"`, "", false},
		{`"cr\rlf"`, "", false},
		{`"nul\u0000"`, "", false},
		{`"del\u007f"`, "", false},
		{`["ok","bad\n"]`, "", false},
		{`{"k":"v\n"}`, `{"k":"v\n"}`, true}, // compact JSON escapes it: no raw control byte
	}
	for _, tt := range tests {
		got, ok := FormatValue(json.RawMessage(tt.raw))
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatValue(%s) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func claims(t *testing.T, body string) *introspection.Claims {
	t.Helper()
	c, err := introspection.ParseClaims([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApply(t *testing.T) {
	in := New(Options{
		Claims: []ClaimHeader{
			{"sub", "x-auth-subject"},
			{"client_id", "x-auth-client-id"},
			{"scope", "x-auth-scope"},
			{"username", "x-auth-username"},
			{"org_id", "x-auth-org"},
			{"aud", "x-auth-aud"},
		},
		ClaimsHeader:       "x-auth-claims",
		StripAuthorization: true,
		AlsoRemove:         []string{"x-other-tenant", "x-auth-subject"},
	})
	c := claims(t, `{"active":true,"sub":"u1","client_id":"c1","scope":"a b","username":"bad\nvalue","aud":["x","y"],"org_id":null}`)
	set, remove := in.Apply(c)
	wantSet := []Header{
		{"x-auth-subject", "u1"},
		{"x-auth-client-id", "c1"},
		{"x-auth-scope", "a b"},
		{"x-auth-aud", "x,y"},
	}
	if !reflect.DeepEqual(set[:4], wantSet) {
		t.Errorf("set = %v, want %v", set, wantSet)
	}
	if len(set) != 5 || set[4].Name != "x-auth-claims" {
		t.Fatalf("claims header missing: %v", set)
	}
	decoded, err := base64.RawURLEncoding.DecodeString(set[4].Value)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(decoded, &all); err != nil || all["sub"] != "u1" || all["client_id"] != "c1" {
		t.Errorf("claims header = %s (%v)", decoded, err)
	}
	wantRemove := []string{"x-auth-username", "x-auth-org", "x-other-tenant", "authorization", "dpop"} // strip_authorization takes the DPoP proof too
	if !reflect.DeepEqual(remove, wantRemove) {
		t.Errorf("remove = %v, want %v", remove, wantRemove)
	}
}

func TestNames(t *testing.T) {
	in := New(Options{Claims: []ClaimHeader{{"sub", "x-s"}}, ClaimsHeader: "x-all"})
	if got := in.Names(); !reflect.DeepEqual(got, []string{"x-s", "x-all"}) {
		t.Errorf("Names() = %v", got)
	}
}

// The headers of one claims object are computed once by an Injector and
// shared; other claims get their own.
func TestApplyKeepsTheHeadersOfRecentClaims(t *testing.T) {
	in := New(Options{Claims: []ClaimHeader{{"sub", "x-sub"}}})
	c1 := claims(t, `{"active":true,"sub":"u1"}`)
	set1, _ := in.Apply(c1)
	again, _ := in.Apply(c1)
	if &again[0] != &set1[0] {
		t.Error("the same claims were formatted again")
	}
	set2, _ := in.Apply(claims(t, `{"active":true,"sub":"u2"}`))
	if set2[0].Value != "u2" || set1[0].Value != "u1" {
		t.Errorf("set1 %v, set2 %v", set1, set2)
	}
}
