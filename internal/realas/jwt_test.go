package realas

// RFC 9068 JWT access tokens from the real server (the api://jwt*
// resources of server/server.mjs: typ at+jwt, RS256, kid of the provider's
// first signing key) checked by tokengate's jwt.mode local and
// local_then_introspect, with the key set from the provider's discovery
// document or its jwks_uri, its revocation endpoint and a key rotation.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The JWT resources of server/server.mjs.
const (
	jwtAudience         = "api://jwt"          // aud of api://jwt, api://jwt-short and api://jwt-unstored
	jwtResource         = "api://jwt"          // tokens live 10 minutes
	jwtShortResource    = "api://jwt-short"    // tokens live jwtShortTTL
	jwtBillingResource  = "api://jwt-billing"  // aud api://jwt-billing, scope billing.read
	jwtUnstoredResource = "api://jwt-unstored" // not stored: introspection says active:false
	jwtShortTTL         = 3 * time.Second
)

// Hosts of TestJWTAccessTokens, one per tenant.
const (
	localHost   = "local.jwt.test"   // jwt.mode local, introspection for non-JWS tokens, JWKS by discovery, leeway 1s
	noIntroHost = "nointro.jwt.test" // jwt.mode local, no introspection, jwks_url set
	ltiHost     = "lti.jwt.test"     // jwt.mode local_then_introspect, cache.max_ttl 2s
)

// jwtTenant is a tenant block in jwt.mode mode; introspection (settings
// under introspection:, after url) is left out when empty, and so is jwt's
// jwks_url when jwksURL is.
func jwtTenant(p *provider, name, mode, introspection, jwksURL, audiences, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  - name: %s\n    issuer: %s", name, yamlString(p.Issuer))
	if introspection != "" {
		fmt.Fprintf(&b, "\n    introspection:\n      url: %s\n      timeout: 3s\n%s", yamlString(p.Introspection), indent(introspection, 6))
	}
	fmt.Fprintf(&b, "\n    audiences: %s\n    jwt:\n      mode: %s", audiences, mode)
	if jwksURL != "" {
		fmt.Fprintf(&b, "\n      jwks_url: %s", yamlString(jwksURL))
	}
	b.WriteString(claimHeaders + extra)
	return b.String()
}

func basicIntrospection() string {
	return fmt.Sprintf("auth_method: client_secret_basic\nclient_id: %s\nclient_secret: %s", yamlString(basicClient), yamlString(basicSecret))
}

func jwtConfig(p *provider) string {
	tenants := jwtTenant(p, "jwt-local", "local", basicIntrospection(), "",
		fmt.Sprintf("[%q, %q]", jwtAudience, defaultAudience), "\n    leeway: 1s") +
		jwtTenant(p, "jwt-nointro", "local", "", p.JWKS, fmt.Sprintf("[%q]", jwtAudience), "") +
		jwtTenant(p, "jwt-lti", "local_then_introspect", basicIntrospection(), "",
			fmt.Sprintf("[%q]", jwtAudience), "\n    cache:\n      max_ttl: 2s")
	routes := route("local", "jwt-local", localHost) +
		route("nointro", "jwt-nointro", noIntroHost) +
		route("lti", "jwt-lti", ltiHost)
	return config(tenants, routes)
}

// startJWTGate starts tokengate on config, with a message naming jwt.mode
// when it is refused.
func startJWTGate(t *testing.T, config string) *gate {
	t.Helper()
	g, err := tryStartGate(t, config)
	if err != nil {
		t.Fatalf("tokengate rejects a jwt.mode local / local_then_introspect configuration (issuer, audiences, jwt.jwks_url or discovery): %v", err)
	}
	return g
}

// TestJWTAccessTokens checks JWT access tokens of the real server locally
// (jwt.mode local) and locally then by introspection
// (local_then_introspect). One tokengate, scenarios in parallel.
func TestJWTAccessTokens(t *testing.T) {
	p := realAS(t)
	g := startJWTGate(t, jwtConfig(p))
	realm := func(tenant string) string { return fmt.Sprintf(`Bearer realm=%q`, tenant) }

	claimsOK := func(t *testing.T, r result, scope string) {
		t.Helper()
		want := map[string]string{
			"x-auth-subject": appClient, "x-auth-client-id": appClient,
			"x-auth-scope": scope, "x-auth-org": "org-42",
		}
		for k, v := range want {
			if r.set[k] != v {
				t.Errorf("header %s = %q, want %q (all: %v)", k, r.set[k], v, r.set)
			}
		}
		if !slices.Contains(r.remove, "x-auth-username") {
			t.Errorf("x-auth-username (claim absent) not in headers_to_remove %v", r.remove)
		}
	}

	// --- jwt.mode local ---

	t.Run("local allows with claim headers and never introspects", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		header, claims := jwsParts(t, tok.AccessToken)
		if header["typ"] != "at+jwt" || header["alg"] != "RS256" || header["kid"] == nil {
			t.Fatalf("the provider's JWT access token header is %v, want typ at+jwt, alg RS256 and a kid", header)
		}
		if claims["iss"] != p.Issuer || claims["aud"] != jwtAudience || claims["client_id"] != appClient || claims["exp"] == nil {
			t.Fatalf("the provider's JWT access token claims are %v", claims)
		}
		for _, host := range []string{localHost, noIntroHost} {
			for i := range 2 { // the second from the cache of verified claims
				r := g.check(t, "GET", host, "/orders/42", tok.AccessToken)
				expect(t, fmt.Sprintf("%s, check %d", host, i+1), r, 200, "allowed")
				claimsOK(t, r, "orders.read")
			}
		}
		if n := p.introspections(t, tok.AccessToken); n != 0 {
			t.Errorf("jwt.mode local introspected a valid JWT access token %d times; want none", n)
		}
	})

	t.Run("local: token for another audience is audience", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtBillingResource, "billing.read")
		if _, claims := jwsParts(t, tok.AccessToken); claims["aud"] != jwtBillingResource {
			t.Fatalf("the provider gave aud %v, want %s", claims["aud"], jwtBillingResource)
		}
		for _, host := range []string{localHost, noIntroHost} {
			r := g.check(t, "GET", host, "/orders", tok.AccessToken)
			expect(t, host+": JWT for api://jwt-billing", r, 401, "audience")
			if !strings.HasPrefix(r.challenge, `Bearer realm="`) || !strings.Contains(r.challenge, `, error="invalid_token", error_description=`) {
				t.Errorf("WWW-Authenticate = %q", r.challenge)
			}
		}
		if n := p.introspections(t, tok.AccessToken); n != 0 {
			t.Errorf("jwt.mode local introspected a JWT access token %d times; want none", n)
		}
	})

	t.Run("local: missing scope is insufficient_scope", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		expect(t, "GET (orders.read)", g.check(t, "GET", localHost, "/orders", tok.AccessToken), 200, "allowed")
		r := g.check(t, "POST", localHost, "/orders", tok.AccessToken)
		expect(t, "POST (orders.read orders.write)", r, 403, "insufficient_scope")
		if want := realm("jwt-local") + `, error="insufficient_scope"`; !strings.HasPrefix(r.challenge, want) ||
			!strings.HasSuffix(r.challenge, `scope="orders.read orders.write"`) {
			t.Errorf("WWW-Authenticate = %q", r.challenge)
		}
		both := p.getToken(t, jwtResource, "orders.read orders.write")
		r = g.check(t, "POST", localHost, "/orders", both.AccessToken)
		expect(t, "POST with both scopes", r, 200, "allowed")
		claimsOK(t, r, "orders.read orders.write")
		for _, tk := range []string{tok.AccessToken, both.AccessToken} {
			if n := p.introspections(t, tk); n != 0 {
				t.Errorf("jwt.mode local introspected a JWT access token %d times; want none", n)
			}
		}
	})

	t.Run("local: expired token is allowed while valid then expired", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtShortResource, "orders.read")
		if tok.ExpiresIn != int(jwtShortTTL/time.Second) {
			t.Fatalf("expires_in = %d, want %d (accessTokenTTL of %s)", tok.ExpiresIn, int(jwtShortTTL/time.Second), jwtShortResource)
		}
		_, claims := jwsParts(t, tok.AccessToken)
		expNum, _ := claims["exp"].(float64)
		exp := time.Unix(int64(expNum), 0)
		if d := time.Until(exp); d <= 0 || d > jwtShortTTL+time.Second {
			t.Fatalf("exp is %s from now", d)
		}
		// leeway 1s: denied from exp+1s on, never before exp.
		expect(t, "fresh short-lived JWT", g.check(t, "GET", localHost, "/orders", tok.AccessToken), 200, "allowed")
		deadline := exp.Add(time.Second + 3*time.Second)
		for {
			now := time.Now()
			r := g.check(t, "GET", localHost, "/orders", tok.AccessToken)
			if !r.allow {
				if now.Before(exp) {
					t.Fatalf("denied %s before exp: %s", exp.Sub(now), r)
				}
				expect(t, "after exp + leeway", r, 401, "expired")
				if !strings.HasPrefix(r.challenge, realm("jwt-local")+`, error="invalid_token", error_description=`) {
					t.Errorf("WWW-Authenticate = %q", r.challenge)
				}
				t.Logf("denied %s after exp (leeway 1s)", time.Since(exp).Round(10*time.Millisecond))
				break
			}
			if now.After(deadline) {
				t.Fatalf("still allowed %s after exp (leeway 1s)", now.Sub(exp))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := p.introspections(t, tok.AccessToken); n != 0 {
			t.Errorf("jwt.mode local introspected a JWT access token %d times; want none", n)
		}
	})

	t.Run("local: forged tokens are invalid_signature", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		for name, forged := range forgeries(t, tok.AccessToken) {
			for _, host := range []string{localHost, noIntroHost, ltiHost} {
				r := g.check(t, "GET", host, "/orders", forged)
				expect(t, host+": "+name, r, 401, "invalid_signature")
				if !strings.HasPrefix(r.challenge, `Bearer realm="`) || !strings.Contains(r.challenge, `, error="invalid_token", error_description=`) {
					t.Errorf("%s: WWW-Authenticate = %q", name, r.challenge)
				}
			}
			// local_then_introspect too: a forged token never reaches the
			// authorization server.
			if n := p.introspections(t, forged); n != 0 {
				t.Errorf("%s: introspected %d times; want none", name, n)
			}
		}
		expect(t, "the genuine token", g.check(t, "GET", localHost, "/orders", tok.AccessToken), 200, "allowed")
	})

	t.Run("local: a token that is not a JWS is introspected when the tenant can", func(t *testing.T) {
		t.Parallel()
		// An opaque token of the same server (api://orders): the counter
		// sees tokengate's introspection, so its zeros above mean something.
		tok := p.getToken(t, defaultAudience, "orders.read")
		if strings.Count(tok.AccessToken, ".") == 2 {
			t.Fatalf("api://orders gave a JWT, want an opaque token")
		}
		for i := range 2 {
			r := g.check(t, "GET", localHost, "/orders", tok.AccessToken)
			expect(t, fmt.Sprintf("opaque token, check %d", i+1), r, 200, "allowed")
			claimsOK(t, r, "orders.read")
		}
		if n := p.introspections(t, tok.AccessToken); n != 1 {
			t.Errorf("the opaque token was introspected %d times; want 1 (then cached)", n)
		}
		expect(t, "opaque token, tenant without introspection", g.check(t, "GET", noIntroHost, "/orders", tok.AccessToken), 401, "invalid_token")
	})

	// --- jwt.mode local_then_introspect ---

	t.Run("local_then_introspect allows with claim headers, introspected once", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		for i := range 2 {
			r := g.check(t, "GET", ltiHost, "/orders", tok.AccessToken)
			expect(t, fmt.Sprintf("check %d", i+1), r, 200, "allowed")
			claimsOK(t, r, "orders.read")
		}
		if n := p.introspections(t, tok.AccessToken); n != 1 {
			t.Errorf("introspected %d times; want 1 (then cached)", n)
		}
	})

	t.Run("local_then_introspect: revoked before first use is inactive", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		if active := p.introspect(t, tok.AccessToken)["active"]; active != true {
			t.Fatalf("the provider does not introspect its JWT access token as active (%v): server.mjs's JwtIndexAdapter", active)
		}
		p.revoke(t, tok.AccessToken)
		if active := p.introspect(t, tok.AccessToken)["active"]; active != false {
			t.Fatalf("after revocation the provider introspects the JWT access token as active %v", active)
		}
		before := p.introspections(t, tok.AccessToken)
		r := g.check(t, "GET", ltiHost, "/orders", tok.AccessToken)
		expect(t, "revoked JWT", r, 401, "inactive")
		if r.challenge != realm("jwt-lti")+`, error="invalid_token", error_description="the token is not active"` {
			t.Errorf("WWW-Authenticate = %q", r.challenge)
		}
		if n := p.introspections(t, tok.AccessToken) - before; n != 1 {
			t.Errorf("tokengate introspected the revoked JWT %d times; want 1", n)
		}
		// jwt.mode local cannot know: the signature is still good.
		expect(t, "revoked JWT, jwt.mode local", g.check(t, "GET", noIntroHost, "/orders", tok.AccessToken), 200, "allowed")
	})

	t.Run("local_then_introspect: revoked after first use is allowed until cache.max_ttl ends", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		expectRevokedAfterCache(t, g, p, ltiHost, tok.AccessToken)
	})

	t.Run("local_then_introspect: a JWT the server does not keep is inactive", func(t *testing.T) {
		t.Parallel()
		// Stock oidc-provider 8 keeps no record of a JWT access token, so
		// its introspection answers active:false for a perfectly valid one:
		// local_then_introspect cannot be used with it as it comes.
		tok := p.getToken(t, jwtUnstoredResource, "orders.read")
		if claims := p.introspect(t, tok.AccessToken); claims["active"] != false {
			t.Fatalf("the provider introspects an unstored JWT access token as %v; want active:false", claims)
		}
		expect(t, "jwt.mode local", g.check(t, "GET", localHost, "/orders", tok.AccessToken), 200, "allowed")
		expect(t, "jwt.mode local_then_introspect", g.check(t, "GET", ltiHost, "/orders", tok.AccessToken), 401, "inactive")
	})

	t.Cleanup(func() { noSecretsInLogs(t, g, basicSecret) })
}

// TestJWTKeyRotation rotates the signing key of an authorization server of
// its own: restarted on the same port (same issuer) with a new key first
// in its JWKS, the old one second. tokengate, with the key set from
// discovery, accepts the new kid by refetching the JWKS.
func TestJWTKeyRotation(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := writeSigningKey(t, dir, "rotation-a"), writeSigningKey(t, dir, "rotation-b")
	cur, err := startProviderWith(t, providerOptions{signingKeys: []signingKey{keyA}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authorization server stderr (%s):\n%s", cur.Issuer, cur.stderr)
		}
		cur.stop()
	})
	first := cur
	tenants := jwtTenant(first, "rotation", "local", "", "", fmt.Sprintf("[%q]", jwtAudience), "")
	g := startJWTGate(t, config(tenants, route("rot", "rotation", "rot.jwt.test")))

	tokA := first.getToken(t, jwtResource, "orders.read")
	unusedA := first.getToken(t, jwtResource, "orders.read") // first used after the rotation
	if h, _ := jwsParts(t, tokA.AccessToken); h["kid"] != keyA.kid {
		t.Fatalf("kid %v, want %s", h["kid"], keyA.kid)
	}
	expect(t, "key A token", g.check(t, "GET", "rot.jwt.test", "/orders", tokA.AccessToken), 200, "allowed")

	// Rotate: same port, keys [B, A].
	u, err := url.Parse(first.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(u.Port(), &port)
	first.stop()
	rotated := time.Now()
	second, err := startProviderWith(t, providerOptions{port: port, signingKeys: []signingKey{keyB, keyA}})
	if err != nil {
		t.Fatalf("restarting the authorization server on port %d: %v", port, err)
	}
	cur = second
	if second.Issuer != first.Issuer || second.JWKS != first.JWKS {
		t.Fatalf("restarted as %s (jwks %s), want %s (%s)", second.Issuer, second.JWKS, first.Issuer, first.JWKS)
	}
	tokB := second.getToken(t, jwtResource, "orders.read")
	if h, _ := jwsParts(t, tokB.AccessToken); h["kid"] != keyB.kid {
		t.Fatalf("after rotation kid %v, want %s", h["kid"], keyB.kid)
	}

	// The new kid is unknown to tokengate's key set: it refetches (at most
	// once per 10 s, so allow for that) and then accepts it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := g.check(t, "GET", "rot.jwt.test", "/orders", tokB.AccessToken)
		if r.allow {
			expect(t, "key B token", r, 200, "allowed")
			t.Logf("key B accepted %s after the rotation", time.Since(rotated).Round(10*time.Millisecond))
			break
		}
		expect(t, "key B token before the JWKS is refetched", r, 401, "invalid_signature")
		if time.Now().After(deadline) {
			t.Fatalf("a token with the new kid is still refused %s after the rotation", time.Since(rotated))
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The old key stays in the set: its tokens still pass.
	expect(t, "key A token first used after the rotation", g.check(t, "GET", "rot.jwt.test", "/orders", unusedA.AccessToken), 200, "allowed")
	// A kid in neither set is still refused.
	for name, forged := range forgeries(t, tokB.AccessToken) {
		expect(t, name, g.check(t, "GET", "rot.jwt.test", "/orders", forged), 401, "invalid_signature")
	}
}

// writeSigningKey writes a new RSA key (PKCS#8 PEM) for the provider.
func writeSigningKey(t *testing.T, dir, kid string) signingKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, kid+".pem")
	if err := writeKeyPEM(file, "PRIVATE KEY", func() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(key) }); err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, file: file}
}

// jwsParts decodes the header and claims of a JWS compact token.
func jwsParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token (%d parts)", len(parts))
	}
	for i, into := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
	}
	return header, claims
}

func jsonB64(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// forgeries makes tokens from a genuine one that no key of the provider
// signed: its claims re-signed with a foreign key under its own kid and
// under another, with alg none, and with a changed claim under the
// original signature.
func forgeries(t *testing.T, genuine string) map[string]string {
	t.Helper()
	header, claims := jwsParts(t, genuine)
	parts := strings.Split(genuine, ".")
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(h map[string]any, payload string) string {
		input := jsonB64(t, h) + "." + payload
		sum := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(rand.Reader, foreign, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64(sig)
	}
	with := func(k string, v any) map[string]any {
		h := map[string]any{}
		for hk, hv := range header {
			h[hk] = hv
		}
		h[k] = v
		return h
	}
	wider := map[string]any{}
	for k, v := range claims {
		wider[k] = v
	}
	wider["scope"] = "orders.read orders.write"
	out := map[string]string{
		"foreign key under the provider's kid": sign(header, parts[1]),
		"foreign key under an unknown kid":     sign(with("kid", "not-a-provider-key"), parts[1]),
		"alg none":                             jsonB64(t, with("alg", "none")) + "." + parts[1] + ".",
		"claims changed under the signature":   parts[0] + "." + jsonB64(t, wider) + "." + parts[2],
	}
	for _, f := range out {
		remember(f)
	}
	return out
}

// introspections is how many introspection requests named token at the
// provider (server.mjs counts them), from tokengate or the tests.
func (p *provider) introspections(t *testing.T, token string) int {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/_realas/introspections?token_sha256="+hex.EncodeToString(sum[:]), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("introspection count: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Count *int `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Count == nil {
		t.Fatalf("introspection count: status %d, %v", resp.StatusCode, err)
	}
	return *out.Count
}
