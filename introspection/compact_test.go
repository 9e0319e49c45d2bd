package introspection

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// sameReadings fails unless compacted claims d read exactly as c does:
// typed fields, scopes, and every claim (registered or not) by Has,
// Claim and RawClaims.
func sameReadings(t *testing.T, body []byte, c, d *Claims) {
	t.Helper()
	typed := func(x *Claims) Claims {
		return Claims{Active: x.Active, Scopes: x.Scopes, ClientID: x.ClientID, Username: x.Username,
			TokenType: x.TokenType, Subject: x.Subject, Issuer: x.Issuer, JTI: x.JTI, Audience: x.Audience,
			Expiry: x.Expiry, NotBefore: x.NotBefore, IssuedAt: x.IssuedAt}
	}
	if !reflect.DeepEqual(typed(c), typed(d)) {
		t.Fatalf("%s: typed fields\n got %+v\nwant %+v", body, typed(d), typed(c))
	}
	if c.ScopeString() != d.ScopeString() {
		t.Fatalf("%s: ScopeString %q, want %q", body, d.ScopeString(), c.ScopeString())
	}
	if !reflect.DeepEqual(c.RawClaims(), d.RawClaims()) {
		t.Fatalf("%s: RawClaims\n got %s\nwant %s", body, rawString(d.RawClaims()), rawString(c.RawClaims()))
	}
	names := append([]string{"nope", "Sub", ""}, registeredNames[:]...)
	for name := range c.Raw {
		names = append(names, name)
	}
	for _, name := range names {
		cv, cok := c.Claim(name)
		dv, dok := d.Claim(name)
		if cok != dok || string(cv) != string(dv) || c.Has(name) != d.Has(name) || d.Has(name) != dok {
			t.Fatalf("%s: claim %q: %q %v (Has %v), want %q %v", body, name, dv, dok, d.Has(name), cv, cok)
		}
	}
}

func rawString(m map[string]json.RawMessage) string {
	out := "{"
	for k, v := range m {
		out += fmt.Sprintf("%q:%s ", k, v)
	}
	return out + "}"
}

var compactBodies = []string{
	`{"active":false}`,
	`{"active":true}`,
	`{"active":true,"sub":"user-1","client_id":"app","scope":"openid profile email orders.read orders.write",` +
		`"aud":"api://orders","exp":1700003600,"iat":1700000000,"org_id":"org-1","sid":"s-1"}`,
	// Registered claims in spellings the typed fields cannot give back.
	`{"active":true,"sub":"a\"b","iss":"caf\u00e9","jti":"x\/y","username":"\ud83d\ude00"}`,
	`{"active":true,"exp":1.7e9,"nbf":1700000000.5,"iat":-0}`,
	`{"active":true,"exp":1e20,"nbf":-1e300}`,
	`{"active":true,"aud":["a","b"],"scope":"  a   b  "}`,
	`{"active":true,"aud":[ "a" ],"scope":"a b"}`,
	`{"active":true,"aud":[],"scope":""}`,
	`{"active":true,"aud":"","iss":"","token_type":"","sub":""}`,
	`{"active":true,"scp":["a b",""," ","c\u00a0d"]}`,
	`{"active":true,"scope":"x","scp":["y"]}`,
	`{"active":true,"scope":null,"scp":["x"],"sub":null}`,
	`{"active" : true , "sub" : "u" , "exp" : 1700000000 }`,
	`{"active":true,"ext":{"a":[1,2]},"n":1.5,"b":false,"arr":["x",1,null],"":"empty name","long":"` +
		strings.Repeat("x", 300) + `"}`,
	`{"active":true,"exp":-62135596800,"iat":0}`,
	`{"active":true,"cnf":{"jkt":"abc"},"acr":"urn:mace:incommon:iap:silver","auth_time":1700000000}`,
}

func TestCompactReadsTheSame(t *testing.T) {
	in := NewInterner()
	for _, body := range compactBodies {
		c, err := ParseClaims([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		d := c.Compact(in)
		if d.Raw != nil || !d.compact {
			t.Fatalf("%s: not compacted", body)
		}
		sameReadings(t, []byte(body), c, d)
		if d.Compact(in) != d {
			t.Fatalf("%s: compacted twice", body)
		}
		sameReadings(t, []byte(body), c, c.Compact(nil)) // no interner: the same, unshared
	}
}

// Claims without Raw (built by hand) are held as they are.
func TestCompactKeepsHandBuiltClaims(t *testing.T) {
	c := &Claims{Active: true, Subject: "u", Scopes: []string{"a"}}
	if c.Compact(NewInterner()) != c {
		t.Fatal("hand-built claims were rebuilt")
	}
}

// What tokens share is shared between their compacted claims; what is each
// token's own lives in one allocation.
func TestCompactSharesAndPacks(t *testing.T) {
	in := NewInterner()
	parse := func(i int) *Claims {
		c, err := ParseClaims(fmt.Appendf(nil, `{"active":true,"sub":"user-%d","client_id":"app","iss":"https://idp",`+
			`"scope":"a b c","aud":["x","y"],"token_type":"Bearer","sid":"s-%d"}`, i, i))
		if err != nil {
			t.Fatal(err)
		}
		return c.Compact(in)
	}
	a, b := parse(1), parse(2)
	for _, pair := range [][2]string{
		{a.ClientID, b.ClientID}, {a.Issuer, b.Issuer}, {a.TokenType, b.TokenType},
		{a.Scopes[1], b.Scopes[1]}, {a.Audience[0], b.Audience[0]}, {a.ScopeString(), b.ScopeString()},
	} {
		if unsafe.StringData(pair[0]) != unsafe.StringData(pair[1]) {
			t.Errorf("%q is not shared", pair[0])
		}
	}
	if &a.Scopes[0] != &b.Scopes[0] || &a.Audience[0] != &b.Audience[0] {
		t.Error("scope or audience slices are not shared")
	}
	if unsafe.StringData(a.Subject) == unsafe.StringData(b.Subject) {
		t.Error("two subjects share memory")
	}
	if unsafe.Sizeof(Claims{}) > 256 {
		t.Errorf("Claims is %d bytes, more than its 256-byte size class", unsafe.Sizeof(Claims{}))
	}
}

// The Interner is bounded: past maxInterned values it starts over, and a
// value too long is not interned; compaction stays exact either way.
func TestInternerBounded(t *testing.T) {
	in := NewInterner()
	for i := range 3 * maxInterned {
		body := fmt.Appendf(nil, `{"active":true,"client_id":"app-%d","scope":"s-%d","aud":"a-%d"}`, i, i, i)
		c, err := ParseClaims(body)
		if err != nil {
			t.Fatal(err)
		}
		sameReadings(t, body, c, c.Compact(in))
		if in.n > maxInterned {
			t.Fatalf("%d values interned, bound %d", in.n, maxInterned)
		}
	}
	long := string(make([]byte, maxInternedLen+1))
	if _, ok := in.str(long); ok {
		t.Fatal("a value longer than maxInternedLen was interned")
	}
}

// FuzzCompact: for any answer ParseClaims accepts, the compacted claims
// read the same.
func FuzzCompact(f *testing.F) {
	for _, b := range compactBodies {
		f.Add([]byte(b))
	}
	in := NewInterner()
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseClaims(body)
		if err != nil {
			return
		}
		sameReadings(t, body, c, c.Compact(in))
	})
}
