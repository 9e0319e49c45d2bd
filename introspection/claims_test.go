package introspection_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

func TestParseClaims(t *testing.T) {
	t.Parallel()
	farFuture := time.Now().AddDate(100_000, 0, 0)
	for _, tc := range []struct {
		name string
		body string
		// check inspects the claims of a body that must parse.
		check func(*introspection.Claims) bool
	}{
		{"minimal inactive", `{"active":false}`, func(c *introspection.Claims) bool { return !c.Active }},
		{"whitespace around", " \n{\"active\":true}\n\t", func(c *introspection.Claims) bool { return c.Active }},
		{"aud string", `{"active":true,"aud":"api://orders"}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Audience, []string{"api://orders"})
		}},
		{"aud array", `{"active":true,"aud":["a","b"]}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Audience, []string{"a", "b"})
		}},
		{"aud absent", `{"active":true}`, func(c *introspection.Claims) bool { return c.Audience == nil }},
		{"scope string", `{"active":true,"scope":" a  b c "}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Scopes, []string{"a", "b", "c"}) && c.ScopeString() == "a b c"
		}},
		{"scp array", `{"active":true,"scp":["x","y"]}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Scopes, []string{"x", "y"}) && c.HasScope("y") && !c.HasScope("z")
		}},
		{"scope wins over scp", `{"active":true,"scope":"a","scp":["x","y"]}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Scopes, []string{"a"})
		}},
		{"empty scope wins over scp", `{"active":true,"scope":"","scp":["x"]}`, func(c *introspection.Claims) bool {
			return len(c.Scopes) == 0
		}},
		{"null scope is absent so scp counts", `{"active":true,"scope":null,"scp":["x"]}`, func(c *introspection.Claims) bool {
			return reflect.DeepEqual(c.Scopes, []string{"x"})
		}},
		{"nulls absent", `{"active":true,"sub":null,"aud":null,"exp":null,"nbf":null,"iat":null,"client_id":null,"custom":null}`, func(c *introspection.Claims) bool {
			_, hasCustom := c.Raw["custom"]
			_, hasSub := c.Raw["sub"]
			return c.Subject == "" && c.Audience == nil && c.Expiry.IsZero() && c.NotBefore.IsZero() &&
				c.IssuedAt.IsZero() && c.ClientID == "" && !hasCustom && !hasSub && len(c.Raw) == 1
		}},
		{"registered strings", `{"active":true,"client_id":"c","username":"u","token_type":"Bearer","sub":"s","iss":"https://i/","jti":"j"}`, func(c *introspection.Claims) bool {
			return c.ClientID == "c" && c.Username == "u" && c.TokenType == "Bearer" && c.Subject == "s" && c.Issuer == "https://i/" && c.JTI == "j"
		}},
		{"unknown claims kept raw", `{"active":true,"org_id":"o1","ext":{"a":[1,2]},"n":1.5}`, func(c *introspection.Claims) bool {
			return string(c.Raw["org_id"]) == `"o1"` && string(c.Raw["ext"]) == `{"a":[1,2]}` && string(c.Raw["n"]) == `1.5` &&
				string(c.Raw["active"]) == `true`
		}},
		{"integer dates", `{"active":true,"exp":1464161608,"nbf":1464158000,"iat":1464158008}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1464161608, 0)) && c.NotBefore.Equal(time.Unix(1464158000, 0)) && c.IssuedAt.Equal(time.Unix(1464158008, 0))
		}},
		{"exponent date", `{"active":true,"exp":1.7e9}`, func(c *introspection.Claims) bool { return c.Expiry.Equal(time.Unix(1700000000, 0)) }},
		{"fractional date", `{"active":true,"exp":1700000000.25}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1700000000, 250_000_000))
		}},
		{"huge exp clamps far in the future", `{"active":true,"exp":1e300}`, func(c *introspection.Claims) bool {
			return c.Expiry.After(farFuture)
		}},
		{"huge nbf clamps far in the future, never wraps to the past", `{"active":true,"nbf":9.3e18}`, func(c *introspection.Claims) bool {
			return c.NotBefore.After(farFuture)
		}},
		{"huge negative exp clamps far in the past", `{"active":true,"exp":-1e300}`, func(c *introspection.Claims) bool {
			return c.Expiry.Before(time.Unix(0, 0))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := introspection.ParseClaims([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseClaims: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestParseClaimsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", ``, "empty body"},
		{"blank", "  \n", "empty body"},
		{"array", `[]`, "not an object"},
		{"string", `"x"`, "not an object"},
		{"number", `1`, "not an object"},
		{"null", `null`, "not a JSON object"},
		{"syntax", `{"active":true,}`, "invalid JSON syntax"},
		{"truncated", `{"active":true`, "not a JSON object"},
		{"single quotes", `{'active':false}`, "invalid JSON syntax"},
		{"trailing object", `{"active":true} {"active":false}`, "data after"},
		{"trailing garbage", `{"active":true}x`, "data after"},
		{"no active", `{"sub":"x"}`, `no boolean "active"`},
		{"null active", `{"active":null}`, `no boolean "active"`},
		{"active string", `{"active":"true"}`, `"active" is not a boolean`},
		{"active number", `{"active":1}`, `"active" is not a boolean`},
		{"exp string", `{"active":true,"exp":"1700000000"}`, `"exp" is not a number`},
		{"nbf bool", `{"active":true,"nbf":false}`, `"nbf" is not a number`},
		{"iat array", `{"active":true,"iat":[1]}`, `"iat" is not a number`},
		{"aud number", `{"active":true,"aud":1}`, `"aud" is not a string or an array`},
		{"aud numbers", `{"active":true,"aud":[1]}`, `"aud" is not a string or an array`},
		{"aud mixed", `{"active":true,"aud":["a",2]}`, `"aud" is not a string or an array`},
		{"aud object", `{"active":true,"aud":{}}`, `"aud" is not a string or an array`},
		{"scope array", `{"active":true,"scope":["a"]}`, `"scope" is not a string`},
		{"scope number", `{"active":true,"scope":1}`, `"scope" is not a string`},
		{"scp string", `{"active":true,"scp":"a b"}`, `"scp" is not an array of strings`},
		{"scp numbers", `{"active":true,"scp":[1]}`, `"scp" is not an array of strings`},
		{"bad scp even when scope wins", `{"active":true,"scope":"a","scp":"a"}`, `"scp"`},
		{"token_type number", `{"active":true,"token_type":1}`, `"token_type" is not a string`},
		{"exp beyond float64", `{"active":true,"exp":1e400}`, `"exp" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := introspection.ParseClaims([]byte(tc.body))
			if err == nil {
				t.Fatalf("ParseClaims accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("claims %+v with an error", c)
			}
			if !errors.Is(err, introspection.ErrIntrospection) {
				t.Errorf("error %q does not wrap ErrIntrospection", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseClaimsRefusesAmbiguousBodies(t *testing.T) {
	for _, body := range []string{
		`{"active":true}}`,
		`{"active":true}]`,
		`{"active":true} {"active":false}`,
		`{"active":true,"aud":["a",null]}`,
		`{"active":true,"scp":[null]}`,
		`{"active":true,"aud":["a",1]}`,
		`{"active":false,"active":true}`,
		`{"active":true,"sub":"a","sub":"b"}`,
	} {
		if c, err := introspection.ParseClaims([]byte(body)); err == nil || !errors.Is(err, introspection.ErrIntrospection) {
			t.Errorf("ParseClaims(%s) = %+v, %v; want an introspection error", body, c, err)
		}
	}
	c, err := introspection.ParseClaims([]byte(" {\"active\":true,\"aud\":[]} \n"))
	if err != nil || !c.Active || len(c.Audience) != 0 {
		t.Errorf("surrounding whitespace and an empty aud array: %+v, %v", c, err)
	}
}

// "scope" is split on U+0020 only (RFC 6749 §3.3: scope-token excludes only
// SP, '"' and '\'): other whitespace is part of a scope-token here, so
// "x\u00a0user" is one scope and never grants "user". Empty parts are
// ignored. scp elements are split the same way, so that Scopes always
// equals ScopeString split on spaces.
func TestParseClaimsScopeSplitsOnSpaceOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want []string
	}{
		{`{"active":true,"scope":"x\u00a0user"}`, []string{"x\u00a0user"}},
		{`{"active":true,"scope":"a\tb"}`, []string{"a\tb"}},
		{`{"active":true,"scope":"a\nb\rc"}`, []string{"a\nb\rc"}},
		{`{"active":true,"scope":"a\u2003b \u3000"}`, []string{"a\u2003b", "\u3000"}},
		{`{"active":true,"scope":"\u00a0"}`, []string{"\u00a0"}},
		{`{"active":true,"scope":"  a   b  "}`, []string{"a", "b"}},
		{`{"active":true,"scope":" "}`, nil},
		{`{"active":true,"scope":""}`, nil},
		{`{"active":true,"scp":["a b","","c\u00a0d"," "]}`, []string{"a", "b", "c\u00a0d"}},
	} {
		c, err := introspection.ParseClaims([]byte(tc.body))
		if err != nil {
			t.Fatalf("ParseClaims(%s): %v", tc.body, err)
		}
		if len(c.Scopes) != len(tc.want) || (len(tc.want) > 0 && !reflect.DeepEqual(c.Scopes, tc.want)) {
			t.Errorf("ParseClaims(%s).Scopes = %q, want %q", tc.body, c.Scopes, tc.want)
		}
		if c.ScopeString() != strings.Join(tc.want, " ") {
			t.Errorf("ParseClaims(%s).ScopeString() = %q", tc.body, c.ScopeString())
		}
		if c.HasScope("user") || c.HasScope("b") != slicesContains(tc.want, "b") {
			t.Errorf("ParseClaims(%s): HasScope disagrees with %q", tc.body, tc.want)
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A present empty string is present; null is absent (Has tells them apart).
func TestParseClaimsPresence(t *testing.T) {
	t.Parallel()
	c, err := introspection.ParseClaims([]byte(`{"active":true,"iss":"","token_type":"","sub":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("iss") || !c.Has("token_type") || c.Has("sub") || c.Has("aud") || !c.Has("active") {
		t.Errorf("Has: iss %v token_type %v sub %v aud %v", c.Has("iss"), c.Has("token_type"), c.Has("sub"), c.Has("aud"))
	}
	if c.Issuer != "" || c.TokenType != "" || c.Subject != "" {
		t.Errorf("claims = %+v", c)
	}
}
