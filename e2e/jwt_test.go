package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/testsupport"
)

// jwtSetup is tenant acme checking JWT access tokens (RFC 9068) in mode,
// with its keys at a JWKS server found through the issuer's RFC 8414
// metadata (the issuer is the JWKS server's URL), and the fake
// authorization server as its introspection endpoint.
type jwtSetup struct {
	as     *introspectiontest.Server
	keys   *jwkstest.Server
	issuer string
	path   string // the configuration file
}

func newJWTSetup(t *testing.T, mode string) *jwtSetup {
	t.Helper()
	s := &jwtSetup{as: newAS(t), keys: jwkstest.NewServer(t, jwkstest.KeySet()...)}
	s.issuer = s.keys.URL + "/realms/acme"
	s.keys.SetDocument("/.well-known/oauth-authorization-server/realms/acme", 0, jwkstest.Metadata(s.issuer, s.keys.JWKSURL()))
	s.path = writeFile(t, t.TempDir(), "tokengate.yaml", fmt.Sprintf(`grpc:
  address: "127.0.0.1:0"
http:
  address: "127.0.0.1:0"
tenants:
  - name: acme
    issuer: %q
    introspection:
      url: "%s/oauth2/introspect"
      client_id: %q
      client_secret: "${E2E_ACME_SECRET}"
      timeout: 1s
    audiences: ["api://orders"]
    jwt:
      mode: %s
    claims_to_headers:
      sub: x-auth-subject
routes:
  - name: orders-read
    tenant: acme
    hosts: ["orders.acme.example"]
    path_prefix: "/orders"
    scopes: ["orders.read"]
`, s.issuer, s.as.URL, acmeClientID, mode))
	return s
}

// claims are those of a JWT acme accepts on orders-read; extra adds
// claims, a nil value removes one.
func (s *jwtSetup) claims(extra map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": s.issuer, "sub": "user-1", "client_id": "app-1", "aud": "api://orders",
		"scope": "orders.read", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": fmt.Sprint(now.UnixNano())}
	return testsupport.Edit(c, extra)
}

// sign is a JWT of claims signed with key for alg under kid, typ at+jwt.
func sign(t *testing.T, key any, alg, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"})
	p, _ := json.Marshal(claims)
	return jwkstest.MustSignRaw(t, key, alg, h, p)
}

// confused is the RS256→HS256 key confusion: a JWT MACed with the RSA
// public key's bytes; none is alg none.
func confused(t *testing.T, claims map[string]any) (hs256, none string) {
	t.Helper()
	pub, err := x509.MarshalPKIXPublicKey(jwkstest.RSAKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	input := jwkstest.Encode([]byte(`{"alg":"HS256","kid":"rsa-1","typ":"at+jwt"}`)) + "." + jwkstest.Encode(p)
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(input))
	hs256 = input + "." + jwkstest.Encode(mac.Sum(nil))
	none = jwkstest.Encode([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + jwkstest.Encode(p) + "." + jwkstest.Encode([]byte("x"))
	return hs256, none
}

// reasonOf is the reason word of a deny (the CheckResponse's status message).
func reasonOf(a answer) string { return a.resp.GetStatus().GetMessage() }

// TestJWTLocalMode: jwt.mode local decides JWTs without the authorization
// server, whatever the outcome.
func TestJWTLocalMode(t *testing.T) {
	t.Parallel()
	s := newJWTSetup(t, "local")
	p := startServe(t, s.path, serveOpts{env: acmeEnv})
	rsa := jwkstest.RSAKey()
	hs256, none := confused(t, s.claims(nil))
	rows := []struct {
		name, token string
		status      int // 200: allow
		reason      string
	}{
		{"RS256", sign(t, rsa, "RS256", "rsa-1", s.claims(nil)), 200, ""},
		{"ES256", sign(t, jwkstest.ECKey(), "ES256", "ec-1", s.claims(nil)), 200, ""},
		{"forged signature", sign(t, jwkstest.RSAKey2(), "RS256", "rsa-1", s.claims(nil)), 401, "invalid_signature"},
		{"alg none", none, 401, "invalid_signature"},
		{"HS256 key confusion", hs256, 401, "invalid_signature"},
		{"foreign issuer", sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"iss": "https://evil.example"})), 401, "issuer"},
		{"no exp", sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"exp": nil})), 401, "invalid_token"},
		{"expired", sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), 401, "expired"},
		{"wrong audience", sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"aud": "api://other"})), 401, "audience"},
		{"missing scope", sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"scope": "profile"})), 403, "insufficient_scope"},
	}
	for _, r := range rows {
		a := p.check(t, req{auth: bearer(r.token)})
		switch {
		case r.status == 200 && (!a.allow || a.set["x-auth-subject"] != "user-1"):
			t.Errorf("%s: allow %v status %d %v, want an allow with x-auth-subject", r.name, a.allow, a.status, a.body)
		case r.status != 200 && (a.allow || a.status != r.status || reasonOf(a) != r.reason):
			t.Errorf("%s: allow %v status %d reason %q, want %d %q", r.name, a.allow, a.status, reasonOf(a), r.status, r.reason)
		case r.status == 401 && !strings.HasPrefix(a.challenge, `Bearer realm="acme", error="invalid_token", error_description="`):
			t.Errorf("%s: challenge %q", r.name, a.challenge)
		}
	}
	if n := s.as.Total(); n != 0 {
		t.Errorf("the authorization server got %d calls, want 0 in mode local", n)
	}
	if got := s.keys.Hits("/.well-known/oauth-authorization-server/realms/acme"); got != 1 {
		t.Errorf("RFC 8414 metadata read %d times, want 1", got)
	}
	if v := p.metric(t, "tokengate_jwks_fetches_total", map[string]string{"tenant": "acme", "result": "success"}); v < 1 {
		t.Errorf("tokengate_jwks_fetches_total{result=success} = %v, want >= 1", v)
	}
	if v := p.metric(t, "tokengate_decisions_total", map[string]string{"tenant": "acme", "reason": "invalid_signature"}); v != 3 {
		t.Errorf("tokengate_decisions_total{reason=invalid_signature} = %v, want 3", v)
	}

	// An opaque token is introspected (the tenant has introspection).
	s.as.Claims("opaque", goodClaims(map[string]any{"iss": s.issuer, "scope": "orders.read"}))
	if a := p.check(t, req{auth: bearer("opaque")}); !a.allow || s.as.Calls("opaque") != 1 {
		t.Errorf("opaque token: allow %v, %d calls; want an allow after one introspection", a.allow, s.as.Calls("opaque"))
	}
}

// TestJWTLocalThenIntrospectMode: local checks first, then the
// authorization server decides: a valid JWT it calls inactive (revoked)
// is denied; a forged or expired one never reaches it.
func TestJWTLocalThenIntrospectMode(t *testing.T) {
	t.Parallel()
	s := newJWTSetup(t, "local_then_introspect")
	p := startServe(t, s.path, serveOpts{env: acmeEnv})
	rsa := jwkstest.RSAKey()
	good := sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"jti": "good"}))
	revoked := sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"jti": "revoked"}))
	forged := sign(t, jwkstest.RSAKey2(), "RS256", "rsa-1", s.claims(nil))
	expired := sign(t, rsa, "RS256", "rsa-1", s.claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	s.as.Claims(good, goodClaims(map[string]any{"iss": s.issuer}))
	s.as.Claims(revoked, map[string]any{"active": false})

	if a := p.check(t, req{auth: bearer(good)}); !a.allow {
		t.Errorf("good: %d %v, want an allow", a.status, a.body)
	}
	if a := p.check(t, req{auth: bearer(revoked)}); a.allow || a.status != 401 || reasonOf(a) != "inactive" {
		t.Errorf("revoked: allow %v %d %q, want 401 inactive", a.allow, a.status, reasonOf(a))
	}
	if a := p.check(t, req{auth: bearer(forged)}); a.allow || reasonOf(a) != "invalid_signature" {
		t.Errorf("forged: allow %v %q, want invalid_signature", a.allow, reasonOf(a))
	}
	if a := p.check(t, req{auth: bearer(expired)}); a.allow || reasonOf(a) != "expired" {
		t.Errorf("expired: allow %v %q, want expired", a.allow, reasonOf(a))
	}
	p.check(t, req{auth: bearer(good)}) // cached
	wantIntrospected(t, s.as, good, 1, "introspected once, then cached")
	wantIntrospected(t, s.as, revoked, 1, "inactive at the server")
	wantIntrospected(t, s.as, forged, 0, "refused locally")
	wantIntrospected(t, s.as, expired, 0, "refused locally")
}

// TestJWTCheckCommandPath: `tokengate check` says which path decided.
func TestJWTCheckCommandPath(t *testing.T) {
	t.Parallel()
	s := newJWTSetup(t, "local")
	s.as.Claims("opaque", goodClaims(map[string]any{"iss": s.issuer}))
	good := sign(t, jwkstest.ECKey(), "ES256", "ec-1", s.claims(nil))
	forged := sign(t, jwkstest.RSAKey2(), "RS256", "rsa-1", s.claims(nil))
	for _, tt := range []struct {
		token, path, reason string
		code                int
	}{
		{good, "local", "allowed", 0},
		{forged, "local", "invalid_signature", 1},
		{"opaque", "introspection", "allowed", 0},
	} {
		out, errOut, code := runCLI(t, acmeEnv, "check", "--config", s.path, "--host", "orders.acme.example",
			"--path", "/orders/1", "--token", tt.token)
		var e struct{ Path, Reason, Cause string }
		if err := json.Unmarshal([]byte(out), &e); err != nil || code != tt.code || e.Path != tt.path || e.Reason != tt.reason {
			t.Errorf("check %s: exit %d, %+v (%v); want exit %d, path %q, reason %q\n%s", tt.reason, code, e, err, tt.code, tt.path, tt.reason, errOut)
		}
		if strings.Contains(out+errOut, tt.token) {
			t.Errorf("check %s printed the token", tt.reason)
		}
	}
}

// TestJWTConfigRules: `tokengate validate` refuses a JWT mode without an
// issuer or audiences (RFC 9068 §4).
func TestJWTConfigRules(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "tokengate.yaml", `tenants:
  - name: acme
    jwt: {mode: local}
routes:
  - {name: r, tenant: acme}
`)
	_, errOut, code := runCLI(t, nil, "validate", "--config", path)
	for _, want := range []string{"tenants[0].issuer: required with jwt.mode local", "tenants[0].audiences: required with jwt.mode local"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("validate: exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
		}
	}
}
