package decision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func policy() *Policy {
	return &Policy{
		Realm:      "acme",
		Issuer:     "https://idp.acme.example",
		Leeway:     30 * time.Second,
		TokenTypes: []string{"Bearer", "access_token"},
		Audiences:  []string{"api://orders"},
		Scopes:     []string{"orders.read"},
	}
}

func good() *introspection.Claims {
	return &introspection.Claims{
		Active:    true,
		Scopes:    []string{"orders.read", "profile"},
		Issuer:    "https://idp.acme.example",
		TokenType: "Bearer",
		Audience:  []string{"api://other", "api://orders"},
		Expiry:    now.Add(time.Hour),
		NotBefore: now.Add(-time.Hour),
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		policy  func(*Policy)
		claims  func(*introspection.Claims)
		reason  Reason
		status  int
		scope   string
		wantErr string
	}{
		{name: "all good", reason: Allowed},
		{name: "inactive", claims: func(c *introspection.Claims) { c.Active = false }, reason: Inactive, status: 401, wantErr: "invalid_token"},
		{name: "inactive wins over everything else", claims: func(c *introspection.Claims) {
			*c = introspection.Claims{Active: false, Expiry: now.Add(-time.Hour), TokenType: "refresh_token"}
		}, reason: Inactive, status: 401, wantErr: "invalid_token"},
		{name: "expired beyond leeway", claims: func(c *introspection.Claims) { c.Expiry = now.Add(-31 * time.Second) }, reason: Expired, status: 401, wantErr: "invalid_token"},
		{name: "expired exactly at leeway edge", claims: func(c *introspection.Claims) { c.Expiry = now.Add(-30 * time.Second) }, reason: Expired, status: 401, wantErr: "invalid_token"},
		{name: "expired within leeway is fine", claims: func(c *introspection.Claims) { c.Expiry = now.Add(-29 * time.Second) }, reason: Allowed},
		{name: "zero leeway: exp now is expired", policy: func(p *Policy) { p.Leeway = 0 }, claims: func(c *introspection.Claims) { c.Expiry = now }, reason: Expired, status: 401, wantErr: "invalid_token"},
		{name: "zero leeway: exp in a second is fine", policy: func(p *Policy) { p.Leeway = 0 }, claims: func(c *introspection.Claims) { c.Expiry = now.Add(time.Second) }, reason: Allowed},
		{name: "no exp at all is fine", claims: func(c *introspection.Claims) { c.Expiry = time.Time{} }, reason: Allowed},
		{name: "expired checked before issuer", claims: func(c *introspection.Claims) { c.Expiry = now.Add(-time.Hour); c.Issuer = "evil" }, reason: Expired, status: 401, wantErr: "invalid_token"},
		{name: "nbf in the future beyond leeway", claims: func(c *introspection.Claims) { c.NotBefore = now.Add(31 * time.Second) }, reason: NotYetValid, status: 401, wantErr: "invalid_token"},
		{name: "nbf within leeway", claims: func(c *introspection.Claims) { c.NotBefore = now.Add(29 * time.Second) }, reason: Allowed},
		{name: "other issuer", claims: func(c *introspection.Claims) { c.Issuer = "https://evil.example" }, reason: Issuer, status: 401, wantErr: "invalid_token"},
		{name: "issuer trailing slash matters", claims: func(c *introspection.Claims) { c.Issuer = "https://idp.acme.example/" }, reason: Issuer, status: 401, wantErr: "invalid_token"},
		{name: "absent issuer passes", claims: func(c *introspection.Claims) { c.Issuer = "" }, reason: Allowed},
		{name: "issuer not configured", policy: func(p *Policy) { p.Issuer = "" }, claims: func(c *introspection.Claims) { c.Issuer = "whatever" }, reason: Allowed},
		{name: "refresh token", claims: func(c *introspection.Claims) { c.TokenType = "refresh_token" }, reason: TokenType, status: 401, wantErr: "invalid_token"},
		{name: "token type case-insensitive", claims: func(c *introspection.Claims) { c.TokenType = "BEARER" }, reason: Allowed},
		{name: "token type access_token", claims: func(c *introspection.Claims) { c.TokenType = "access_token" }, reason: Allowed},
		{name: "absent token type passes", claims: func(c *introspection.Claims) { c.TokenType = "" }, reason: Allowed},
		{name: "issuer checked before token type", claims: func(c *introspection.Claims) { c.Issuer = "x"; c.TokenType = "refresh_token" }, reason: Issuer, status: 401, wantErr: "invalid_token"},
		{name: "wrong audience", claims: func(c *introspection.Claims) { c.Audience = []string{"api://billing"} }, reason: Audience, status: 401, wantErr: "invalid_token"},
		{name: "absent audience when required", claims: func(c *introspection.Claims) { c.Audience = nil }, reason: Audience, status: 401, wantErr: "invalid_token"},
		{name: "audience not checked when not configured", policy: func(p *Policy) { p.Audiences = nil }, claims: func(c *introspection.Claims) { c.Audience = nil }, reason: Allowed},
		{name: "any of several audiences", policy: func(p *Policy) { p.Audiences = []string{"a", "api://orders"} }, reason: Allowed},
		{name: "audience is case-sensitive", claims: func(c *introspection.Claims) { c.Audience = []string{"API://ORDERS"} }, reason: Audience, status: 401, wantErr: "invalid_token"},
		{name: "token type checked before audience", claims: func(c *introspection.Claims) { c.TokenType = "refresh_token"; c.Audience = nil }, reason: TokenType, status: 401, wantErr: "invalid_token"},
		{name: "missing required scope", claims: func(c *introspection.Claims) { c.Scopes = []string{"profile"} }, reason: InsufficientScope, status: 403, scope: "orders.read", wantErr: "insufficient_scope"},
		{name: "all scopes required, config order in challenge", policy: func(p *Policy) { p.Scopes = []string{"b", "orders.read", "a"} }, reason: InsufficientScope, status: 403, scope: "b orders.read a", wantErr: "insufficient_scope"},
		{name: "audience checked before scopes", claims: func(c *introspection.Claims) { c.Audience = nil; c.Scopes = nil }, reason: Audience, status: 401, wantErr: "invalid_token"},
		{name: "scope prefix is not the scope", claims: func(c *introspection.Claims) { c.Scopes = []string{"orders.read.x", "orders"} }, reason: InsufficientScope, status: 403, scope: "orders.read", wantErr: "insufficient_scope"},
		{name: "any_scopes: one is enough", policy: func(p *Policy) { p.Scopes = nil; p.AnyScopes = []string{"x", "profile"} }, reason: Allowed},
		{name: "any_scopes: none present", policy: func(p *Policy) { p.Scopes = nil; p.AnyScopes = []string{"x", "y"} }, reason: InsufficientScope, status: 403, scope: "x y", wantErr: "insufficient_scope"},
		{name: "scopes missing reports scopes not any_scopes", policy: func(p *Policy) { p.Scopes = []string{"w"}; p.AnyScopes = []string{"x"} }, reason: InsufficientScope, status: 403, scope: "w", wantErr: "insufficient_scope"},
		{name: "scopes met, any_scopes not", policy: func(p *Policy) { p.AnyScopes = []string{"x", "y"} }, reason: InsufficientScope, status: 403, scope: "x y", wantErr: "insufficient_scope"},
		{name: "no scopes required", policy: func(p *Policy) { p.Scopes = nil }, claims: func(c *introspection.Claims) { c.Scopes = nil }, reason: Allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := policy(), good()
			if tt.policy != nil {
				tt.policy(p)
			}
			if tt.claims != nil {
				tt.claims(c)
			}
			d := Decide(p, c, now, Binding{})
			if d.Reason != tt.reason {
				t.Fatalf("reason = %q, want %q (%+v)", d.Reason, tt.reason, d)
			}
			if d.Allow != (tt.reason == Allowed) {
				t.Fatalf("allow = %v for reason %q", d.Allow, d.Reason)
			}
			if d.Status != tt.status {
				t.Errorf("status = %d, want %d", d.Status, tt.status)
			}
			if d.Scope != tt.scope {
				t.Errorf("scope = %q, want %q", d.Scope, tt.scope)
			}
			if d.Error != tt.wantErr {
				t.Errorf("error = %q, want %q", d.Error, tt.wantErr)
			}
			if !d.Allow && d.Realm != "acme" {
				t.Errorf("realm = %q", d.Realm)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"missing token", DenyMissingToken(&Policy{Realm: "acme"}), `Bearer realm="acme"`},
		{"malformed token", DenyMalformedToken("acme"), `Bearer realm="acme", error="invalid_request", error_description="the bearer token is malformed"`},
		{"inactive", Decide(policy(), &introspection.Claims{}, now, Binding{}), `Bearer realm="acme", error="invalid_token", error_description="the token is not active"`},
		{"expired", invalidToken("acme", Expired, "the token has expired"), `Bearer realm="acme", error="invalid_token", error_description="the token has expired"`},
		{"scope", insufficientScope("acme", []string{"a", "b"}), `Bearer realm="acme", error="insufficient_scope", error_description="the token lacks a required scope", scope="a b"`},
		{"no route has none", DenyNoRoute(), ""},
		{"malformed request has none", DenyMalformedRequest(), ""},
		{"duplicated header has none", DenyDuplicatedHeader(), ""},
		{"introspection error has none", DenyIntrospectionError(), ""},
		{"allow has none", Decision{Allow: true, Reason: Allowed, Realm: "acme"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Challenge(); got != tt.want {
				t.Errorf("Challenge() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDenyRows(t *testing.T) {
	tests := []struct {
		d      Decision
		reason Reason
		status int
	}{
		{DenyMalformedRequest(), MalformedRequest, 400},
		{DenyDuplicatedHeader(), MalformedRequest, 400},
		{DenyNoRoute(), NoRoute, 403},
		{DenyMissingToken(&Policy{Realm: "t"}), MissingToken, 401},
		{DenyMissingToken(&Policy{Realm: "t", Required: RequireDPoP}), MissingToken, 401},
		{DenyInvalidDPoPProof(&Policy{Realm: "t"}, "DPoP proof is missing"), InvalidDPoPProof, 401},
		{DenyReplayCheckFailed(), IntrospectionError, 503},
		{DenyMalformedToken("t"), MalformedToken, 400},
		{DenyIntrospectionError(), IntrospectionError, 503},
	}
	for _, tt := range tests {
		if tt.d.Allow || tt.d.Reason != tt.reason || tt.d.Status != tt.status {
			t.Errorf("%+v: want deny %q %d", tt.d, tt.reason, tt.status)
		}
		var body map[string]string
		if err := json.Unmarshal(tt.d.Body(), &body); err != nil {
			t.Fatalf("%q body: %v", tt.reason, err)
		}
		if body["error"] == "" || body["error_description"] == "" || len(body) != 2 {
			t.Errorf("%q body = %v, want both error and error_description", tt.reason, body)
		}
	}
	if p := AllowPublic(); !p.Allow || p.Reason != Public {
		t.Errorf("AllowPublic() = %+v", p)
	}
}

func TestZeroDecisionIsDeny(t *testing.T) {
	if (Decision{}).Allow {
		t.Fatal("zero Decision must not allow")
	}
}

func TestEveryReasonListed(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if seen[r] {
			t.Fatalf("duplicate reason %q", r)
		}
		seen[r] = true
	}
	// The contract's words for what is implemented: the first fourteen,
	// the sender-constrained tokens' four, invalid_signature (JWT
	// access tokens), and the route policy's three
	// (insufficient_user_authentication, policy, shadow), and revoked
	// (revocation events).
	if len(Reasons) != 23 {
		t.Fatalf("want 23 reason words, have %d", len(Reasons))
	}
}

func BenchmarkDecide(b *testing.B) {
	p, c := policy(), good()
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(p, c, now, Binding{}); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// parsed turns an introspection body into claims the way the client does,
// so that presence (a present empty string, a null) is what it really is.
func parsed(t *testing.T, body string) *introspection.Claims {
	t.Helper()
	c, err := introspection.ParseClaims([]byte(body))
	if err != nil {
		t.Fatalf("ParseClaims(%s): %v", body, err)
	}
	return c
}

// The contract's claim rules: a present empty string is present, null is
// absent, token types fold ASCII only, scope splits on U+0020 only.
func TestDecideClaimPresence(t *testing.T) {
	const tail = `"aud":"api://orders","scope":"orders.read"}`
	tests := []struct {
		name   string
		body   string
		reason Reason
	}{
		{"empty iss fails the issuer check", `{"active":true,"iss":"",` + tail, Issuer},
		{"null iss is absent", `{"active":true,"iss":null,` + tail, Allowed},
		{"absent iss", `{"active":true,` + tail, Allowed},
		{"matching iss", `{"active":true,"iss":"https://idp.acme.example",` + tail, Allowed},
		{"empty token_type is not accepted", `{"active":true,"token_type":"",` + tail, TokenType},
		{"null token_type is absent", `{"active":true,"token_type":null,` + tail, Allowed},
		{"token_type folds ASCII case", `{"active":true,"token_type":"ACCESS_TOKEN",` + tail, Allowed},
		{"token_type with KELVIN SIGN and LONG S is another type", `{"active":true,"token_type":"acce\u017f\u017f_to\u212aen",` + tail, TokenType},
		{"token_type with surrounding space is another type", `{"active":true,"token_type":" Bearer",` + tail, TokenType},
		{"empty iss checked before empty token_type", `{"active":true,"iss":"","token_type":"",` + tail, Issuer},
		{"scope split on NBSP is one scope", `{"active":true,"aud":"api://orders","scope":"x\u00a0orders.read"}`, InsufficientScope},
		{"scope split on TAB is one scope", `{"active":true,"aud":"api://orders","scope":"x\torders.read"}`, InsufficientScope},
		{"scope split on LF is one scope", `{"active":true,"aud":"api://orders","scope":"x\norders.read"}`, InsufficientScope},
		{"scope with repeated spaces", `{"active":true,"aud":"api://orders","scope":"  x   orders.read  "}`, Allowed},
		{"empty scope grants nothing", `{"active":true,"aud":"api://orders","scope":""}`, InsufficientScope},
		{"null scope is absent, scp counts", `{"active":true,"aud":"api://orders","scope":null,"scp":["orders.read"]}`, Allowed},
		{"null aud is absent", `{"active":true,"aud":null,"scope":"orders.read"}`, Audience},
		{"null exp is absent", `{"active":true,"exp":null,` + tail, Allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(policy(), parsed(t, tt.body), now, Binding{})
			if d.Reason != tt.reason || d.Allow != (tt.reason == Allowed) {
				t.Fatalf("reason = %q (allow %v), want %q", d.Reason, d.Allow, tt.reason)
			}
		})
	}
}
