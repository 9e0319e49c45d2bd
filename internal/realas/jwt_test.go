package realas

// RFC 9068 JWT access tokens from the real server (the api://jwt*
// resources of server/server.mjs: typ at+jwt, RS256, kid of the provider's
// first signing key) checked by tokengate's jwt.mode local and
// local_then_introspect, with the key set from the provider's discovery
// document or its jwks_uri, and its revocation endpoint; the key rotation
// is in jwt_rotation_test.go.

import (
	"fmt"
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

// TestJWTAccessTokens checks JWT access tokens of the real server locally
// (jwt.mode local) and locally then by introspection
// (local_then_introspect). One tokengate, scenarios in parallel.
func TestJWTAccessTokens(t *testing.T) {
	p := realAS(t)
	g := startGate(t, jwtConfig(p))
	realm := func(tenant string) string { return fmt.Sprintf(`Bearer realm=%q`, tenant) }

	// allowedTwice checks token for path at host twice, the second answered
	// from the cache of claims: allowed, with the claim headers of
	// orders.read.
	allowedTwice := func(t *testing.T, host, path, token string) {
		t.Helper()
		for i := range 2 {
			r := g.check(t, "GET", host, path, token)
			expect(t, fmt.Sprintf("%s %s, check %d", host, path, i+1), r, 200, "allowed")
			claimHeadersOK(t, r, "orders.read")
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
			allowedTwice(t, host, "/orders/42", tok.AccessToken)
		}
		expectIntrospections(t, p, "jwt.mode local, a valid JWT access token", tok.AccessToken, 0)
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
		expectIntrospections(t, p, "jwt.mode local, another audience's JWT", tok.AccessToken, 0)
	})

	t.Run("local: missing scope is insufficient_scope", func(t *testing.T) {
		t.Parallel()
		readOnly, both, r := expectInsufficientScope(t, g, p, localHost, "jwt-local", jwtResource)
		claimHeadersOK(t, r, "orders.read orders.write")
		for _, tk := range []string{readOnly, both} {
			expectIntrospections(t, p, "jwt.mode local, scopes", tk, 0)
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
		expectIntrospections(t, p, "jwt.mode local, an expired JWT", tok.AccessToken, 0)
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
			expectIntrospections(t, p, name, forged, 0)
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
		allowedTwice(t, localHost, "/orders", tok.AccessToken)
		expectIntrospections(t, p, "the opaque token (then cached)", tok.AccessToken, 1)
		expect(t, "opaque token, tenant without introspection", g.check(t, "GET", noIntroHost, "/orders", tok.AccessToken), 401, "invalid_token")
	})

	// --- jwt.mode local_then_introspect ---

	t.Run("local_then_introspect allows with claim headers, introspected once", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, jwtResource, "orders.read")
		allowedTwice(t, ltiHost, "/orders", tok.AccessToken)
		expectIntrospections(t, p, "local_then_introspect (then cached)", tok.AccessToken, 1)
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
		expectInactive(t, g, ltiHost, "jwt-lti", "revoked JWT", tok.AccessToken)
		expectIntrospections(t, p, "the revoked JWT (once by tokengate)", tok.AccessToken, before+1)
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
