package realas

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Hosts of the main configuration, one per tenant.
const (
	basicHost = "basic.test" // client_secret_basic
	postHost  = "post.test"  // client_secret_post
	wrongHost = "wrong.test" // client_secret_basic with a wrong secret
	noneHost  = "none.test"  // auth_method none, with client_id
	noIDHost  = "noid.test"  // auth_method none, no client_id
	cacheHost = "cache.test" // cache.max_ttl 2s
)

const wrongSecret = "not-the-secret"

// claimHeaders is the claims_to_headers block every tenant uses.
const claimHeaders = `
    claims_to_headers:
      sub: x-auth-subject
      client_id: x-auth-client-id
      scope: x-auth-scope
      org_id: x-auth-org
      username: x-auth-username`

// tenant is one tenant block in front of the provider.
func tenant(p *provider, name, introspection, extra string) string {
	return fmt.Sprintf(`
  - name: %s
    issuer: %s
    introspection:
      url: %s
      timeout: 3s
%s
    audiences: [%q]%s%s`, name, yamlString(p.Issuer), yamlString(p.Introspection), indent(introspection, 6), defaultAudience, claimHeaders, extra)
}

// route sends host to tenant: GET needs orders.read, POST also orders.write.
func route(name, tenant, host string) string {
	return fmt.Sprintf(`
  - name: %[1]s-read
    tenant: %[2]s
    hosts: [%[3]q]
    path_prefix: /orders
    methods: [GET, HEAD]
    scopes: [orders.read]
  - name: %[1]s-write
    tenant: %[2]s
    hosts: [%[3]q]
    path_prefix: /orders
    methods: [POST]
    scopes: [orders.read, orders.write]`, name, tenant, host)
}

func indent(block string, n int) string {
	lines := strings.Split(strings.Trim(block, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Repeat(" ", n) + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func config(tenants, routes string) string {
	return `
grpc:
  address: "127.0.0.1:0"
http:
  address: "127.0.0.1:0"
tenants:` + tenants + `
routes:` + routes + "\n"
}

func mainConfig(p *provider) string {
	basic := fmt.Sprintf("auth_method: client_secret_basic\nclient_id: %s\nclient_secret: %s", yamlString(basicClient), yamlString(basicSecret))
	post := fmt.Sprintf("auth_method: client_secret_post\nclient_id: %s\nclient_secret: %s", yamlString(postClient), yamlString(postSecret))
	wrong := fmt.Sprintf("auth_method: client_secret_basic\nclient_id: %s\nclient_secret: %s", yamlString(basicClient), yamlString(wrongSecret))
	none := fmt.Sprintf("auth_method: none\nclient_id: %s", yamlString(noneClient))
	noID := "auth_method: none"
	tenants := tenant(p, "basic", basic, "") +
		tenant(p, "post", post, "") +
		tenant(p, "wrongcreds", wrong, "") +
		tenant(p, "none", none, "") +
		tenant(p, "noid", noID, "") +
		tenant(p, "shortcache", basic, "\n    cache:\n      max_ttl: 2s")
	routes := route("basic", "basic", basicHost) +
		route("post", "post", postHost) +
		route("wrong", "wrongcreds", wrongHost) +
		route("none", "none", noneHost) +
		route("noid", "noid", noIDHost) +
		route("cache", "shortcache", cacheHost)
	return config(tenants, routes)
}

// claimHeadersOK checks the claim headers of an allow for a token of
// appClient with scope: subject, client id, scope and org set, the absent
// username removed.
func claimHeadersOK(t *testing.T, r result, scope string) {
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

// expectInsufficientScope checks route's scopes at host, tenant's, with
// tokens for resource: one with orders.read alone is allowed GET and
// denied POST (insufficient_scope, the challenge naming both scopes); one
// with both is allowed POST. It returns the two tokens and that allow.
func expectInsufficientScope(t *testing.T, g *gate, p *provider, host, tenant, resource string) (readOnly, both string, allowed result) {
	t.Helper()
	tok := p.getToken(t, resource, "orders.read")
	expect(t, "GET (orders.read)", g.check(t, "GET", host, "/orders", tok.AccessToken), 200, "allowed")
	r := g.check(t, "POST", host, "/orders", tok.AccessToken)
	expect(t, "POST (orders.read orders.write)", r, 403, "insufficient_scope")
	if want := fmt.Sprintf(`Bearer realm=%q, error="insufficient_scope"`, tenant); !strings.HasPrefix(r.challenge, want) ||
		!strings.HasSuffix(r.challenge, `scope="orders.read orders.write"`) {
		t.Errorf("WWW-Authenticate = %q", r.challenge)
	}
	all := p.getToken(t, resource, "orders.read orders.write")
	allowed = g.check(t, "POST", host, "/orders", all.AccessToken)
	expect(t, "POST with both scopes", allowed, 200, "allowed")
	return tok.AccessToken, all.AccessToken, allowed
}

// expectInactive checks token at host, tenant's: denied 401 inactive with
// the challenge of a token that is not active.
func expectInactive(t *testing.T, g *gate, host, tenant, what, token string) {
	t.Helper()
	r := g.check(t, "GET", host, "/orders", token)
	expect(t, what, r, 401, "inactive")
	if want := fmt.Sprintf(`Bearer realm=%q, error="invalid_token", error_description="the token is not active"`, tenant); r.challenge != want {
		t.Errorf("WWW-Authenticate = %q, want %q", r.challenge, want)
	}
}

// TestRealAuthorizationServer runs the decision table's main rows against
// oidc-provider: real tokens, real introspection, real revocation and
// expiry. The scenarios share one provider and one tokengate and run in
// parallel; each uses tokens of its own.
func TestRealAuthorizationServer(t *testing.T) {
	p := realAS(t)
	g := startGate(t, mainConfig(p))
	realm := func(tenant string) string { return fmt.Sprintf(`Bearer realm=%q`, tenant) }

	// Allow, with the claims as headers; the absent username is removed.
	allowWithHeaders := func(t *testing.T, host string) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		if tok.Scope != "orders.read" || tok.TokenType != "Bearer" {
			t.Fatalf("token response: %+v", tok)
		}
		r := g.check(t, "GET", host, "/orders/42", tok.AccessToken)
		expect(t, "token for api://orders with orders.read", r, 200, "allowed")
		claimHeadersOK(t, r, "orders.read")
	}

	t.Run("client_secret_basic allows with claim headers", func(t *testing.T) { allowWithHeaders(t, basicHost) })
	t.Run("client_secret_post allows with claim headers", func(t *testing.T) { allowWithHeaders(t, postHost) })

	t.Run("token for another resource is audience", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, otherAudience, "billing.read")
		if aud := p.introspect(t, tok.AccessToken)["aud"]; aud != otherAudience {
			t.Fatalf("the provider gave aud %v, want %s", aud, otherAudience)
		}
		r := g.check(t, "GET", basicHost, "/orders", tok.AccessToken)
		expect(t, "token for api://billing", r, 401, "audience")
		if !strings.HasPrefix(r.challenge, realm("basic")+`, error="invalid_token", error_description=`) {
			t.Errorf("WWW-Authenticate = %q", r.challenge)
		}
	})

	t.Run("missing scope is insufficient_scope", func(t *testing.T) {
		t.Parallel()
		expectInsufficientScope(t, g, p, basicHost, "basic", defaultAudience)
	})

	t.Run("revoked before first use is inactive", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		p.revoke(t, tok.AccessToken)
		expectInactive(t, g, basicHost, "basic", "revoked token", tok.AccessToken)
	})

	t.Run("revoked after first use is allowed until cache.max_ttl ends", func(t *testing.T) {
		t.Parallel()
		// Revocation is seen once the cached claims end (cache.max_ttl 2s
		// here, 5m by default); POST /revoke on the admin listener is for
		// sooner.
		tok := p.getToken(t, defaultAudience, "orders.read")
		expectRevokedAfterCache(t, g, p, cacheHost, tok.AccessToken)
	})

	t.Run("expired token is allowed while valid then inactive", func(t *testing.T) {
		t.Parallel()
		tok := p.getTokenAs(t, shortClient, shortSecret, defaultAudience, "orders.read")
		if tok.ExpiresIn != int(shortTTL/time.Second) {
			t.Fatalf("expires_in = %d, want %d (ttl.ClientCredentials for %s)", tok.ExpiresIn, int(shortTTL/time.Second), shortClient)
		}
		expNum, _ := p.introspect(t, tok.AccessToken)["exp"].(float64)
		exp := time.Unix(int64(expNum), 0)
		if d := time.Until(exp); d <= 0 || d > shortTTL+time.Second {
			t.Fatalf("exp is %s from now", d)
		}
		// The tenant's leeway is 30s: the decision alone would allow an
		// expired token for a while, so only the cache ending at exp and the
		// provider answering active:false can deny it within a second or so.
		r := g.check(t, "GET", basicHost, "/orders", tok.AccessToken)
		expect(t, "fresh short-lived token", r, 200, "allowed")
		deadline := exp.Add(3 * time.Second)
		for {
			now := time.Now()
			r := g.check(t, "GET", basicHost, "/orders", tok.AccessToken)
			if !r.allow {
				if now.Before(exp.Add(-time.Second)) {
					t.Fatalf("denied %s before exp: %s", exp.Sub(now), r)
				}
				expect(t, "after exp", r, 401, "inactive")
				t.Logf("denied %s after exp", time.Since(exp).Round(10*time.Millisecond))
				break
			}
			if now.After(deadline) {
				t.Fatalf("still allowed %s after exp: the cache outlived the token", now.Sub(exp))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("wrong introspection credentials are introspection_error", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		r := g.check(t, "GET", wrongHost, "/orders", tok.AccessToken)
		expect(t, "wrong client secret", r, 503, "introspection_error")
		if r.challenge != "" {
			t.Errorf("503 with WWW-Authenticate %q", r.challenge)
		}
		var found bool
		for _, line := range g.logLines(t, "introspection failed") {
			errText, _ := line["error"].(string)
			if line["tenant"] == "wrongcreds" && strings.Contains(errText, "invalid_client") && strings.Contains(errText, "401") {
				found = true
			}
		}
		if !found {
			t.Errorf("no \"introspection failed\" log line names tenant wrongcreds, 401 and invalid_client:\n%s", g.logs)
		}
		// Errors are not cached: the next check asks again and fails again.
		expect(t, "second try", g.check(t, "GET", wrongHost, "/orders", tok.AccessToken), 503, "introspection_error")
	})

	t.Run("garbage token is inactive", func(t *testing.T) {
		t.Parallel()
		r := g.check(t, "GET", basicHost, "/orders", "garbage-"+fmt.Sprint(time.Now().UnixNano()))
		expect(t, "garbage token", r, 401, "inactive")
	})

	t.Run("auth_method none with client_id is inactive", func(t *testing.T) {
		t.Parallel()
		// oidc-provider takes the call from a client registered with
		// token_endpoint_auth_method none, but its default
		// introspection.allowedPolicy answers active:false about every
		// token of another client.
		tok := p.getToken(t, defaultAudience, "orders.read")
		expect(t, "none", g.check(t, "GET", noneHost, "/orders", tok.AccessToken), 401, "inactive")
	})

	t.Run("auth_method none without client_id is introspection_error", func(t *testing.T) {
		t.Parallel()
		// No client at all: 400 invalid_request "no client authentication
		// mechanism provided".
		tok := p.getToken(t, defaultAudience, "orders.read")
		expect(t, "none without client_id", g.check(t, "GET", noIDHost, "/orders", tok.AccessToken), 503, "introspection_error")
	})

	// After every scenario (a parent's cleanup waits for its parallel
	// subtests): no secret and no token in the logs.
	t.Cleanup(func() { noSecretsInLogs(t, g, basicSecret, postSecret, wrongSecret) })
}
