package realas

// private_key_jwt client authentication (RFC 7523) and signed JWT
// introspection responses (RFC 9701) against the real server. Each test
// runs a tokengate of its own, so a tokengate that rejects one of these
// settings fails only the test that needs it.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPrivateKeyJWT(t *testing.T) {
	p := realAS(t)
	pk := func(keyFile, extra string) string {
		return fmt.Sprintf("auth_method: private_key_jwt\nclient_id: %s\nprivate_key_file: %s\n%s",
			yamlString(privateKeyJWTClient), yamlString(keyFile), extra)
	}
	tenants := tenant(p, "pkjwt-rsa", pk(p.RSAKeyFile, "key_id: "+yamlString(rsaKeyID)), "") +
		tenant(p, "pkjwt-ec", pk(p.ECKeyFile, ""), "") +
		tenant(p, "pkjwt-issuer-aud", pk(p.RSAKeyFile, "key_id: "+yamlString(rsaKeyID)+"\nassertion_audience: "+yamlString(p.Issuer)), "") +
		tenant(p, "pkjwt-wrong-aud", pk(p.RSAKeyFile, "key_id: "+yamlString(rsaKeyID)+"\nassertion_audience: https://elsewhere.example/"), "")
	routes := route("rsa", "pkjwt-rsa", "rsa.test") +
		route("ec", "pkjwt-ec", "ec.test") +
		route("issaud", "pkjwt-issuer-aud", "issaud.test") +
		route("wrongaud", "pkjwt-wrong-aud", "wrongaud.test")
	g, err := tryStartGate(t, config(tenants, routes))
	if err != nil {
		t.Fatalf("tokengate rejects a private_key_jwt configuration (auth_method private_key_jwt, private_key_file, key_id, assertion_audience): %v", err)
	}

	for _, tc := range []struct{ name, host string }{
		{"RS256 PKCS#8 key with key_id, assertion aud = introspection URL", "rsa.test"},
		{"ES256 SEC1 key without key_id", "ec.test"},
		{"assertion_audience = issuer", "issaud.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Two tokens, two introspections: oidc-provider refuses a
			// client assertion whose jti it has seen, so both passing means
			// each call signs a fresh one.
			for i := range 2 {
				tok := p.getToken(t, defaultAudience, "orders.read")
				r := g.check(t, "GET", tc.host, "/orders", tok.AccessToken)
				expect(t, fmt.Sprintf("token %d", i+1), r, 200, "allowed")
				if r.set["x-auth-client-id"] != appClient || r.set["x-auth-scope"] != "orders.read" {
					t.Errorf("claim headers %v", r.set)
				}
			}
			expect(t, "garbage token", g.check(t, "GET", tc.host, "/orders", "garbage"), 401, "inactive")
		})
	}

	t.Run("assertion for another audience is refused", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		expect(t, "wrong assertion audience", g.check(t, "GET", "wrongaud.test", "/orders", tok.AccessToken), 503, "introspection_error")
		var found bool
		for _, line := range g.logLines(t, "introspection failed") {
			errText, _ := line["error"].(string)
			found = found || line["tenant"] == "pkjwt-wrong-aud" && strings.Contains(errText, "invalid_client")
		}
		if !found {
			t.Errorf("no \"introspection failed\" log line names tenant pkjwt-wrong-aud and invalid_client")
		}
	})
}

func TestJWTIntrospectionResponse(t *testing.T) {
	p := realAS(t)
	if algs, _ := p.Discovery["introspection_signing_alg_values_supported"].([]any); len(algs) == 0 {
		t.Fatalf("the provider does not advertise introspection_signing_alg_values_supported: features.jwtIntrospection is off")
	}
	// A JWKS with the provider's kid but another key: a response signed by
	// the provider must not verify against it.
	forged := forgedJWKS(t, p)

	jwtResp := func(client, secret, jwks string) string {
		return fmt.Sprintf("auth_method: client_secret_basic\nclient_id: %s\nclient_secret: %s\nresponse_format: jwt\njwks_url: %s",
			yamlString(client), yamlString(secret), yamlString(jwks))
	}
	tenants := tenant(p, "jwtresp", jwtResp(jwtRespClient, jwtRespSecret, p.JWKS), "") +
		tenant(p, "jwtresp-forged", jwtResp(jwtRespClient, jwtRespSecret, forged), "") +
		tenant(p, "jwtresp-json", fmt.Sprintf("client_id: %s\nclient_secret: %s", yamlString(jwtRespClient), yamlString(jwtRespSecret)), "")
	routes := route("jwt", "jwtresp", "jwt.test") +
		route("forged", "jwtresp-forged", "forged.test") +
		route("json", "jwtresp-json", "json.test")
	g, err := tryStartGate(t, config(tenants, routes))
	if err != nil {
		t.Fatalf("tokengate rejects a JWT introspection response configuration (response_format jwt, jwks_url): %v", err)
	}

	t.Run("signed response allows with claim headers", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		r := g.check(t, "GET", "jwt.test", "/orders", tok.AccessToken)
		expect(t, "JWT response", r, 200, "allowed")
		want := map[string]string{"x-auth-subject": appClient, "x-auth-client-id": appClient, "x-auth-scope": "orders.read", "x-auth-org": "org-42"}
		for k, v := range want {
			if r.set[k] != v {
				t.Errorf("header %s = %q, want %q", k, r.set[k], v)
			}
		}
		billing := p.getToken(t, otherAudience, "billing.read")
		expect(t, "JWT response, other audience", g.check(t, "GET", "jwt.test", "/orders", billing.AccessToken), 401, "audience")
		expect(t, "JWT response, missing scope", g.check(t, "POST", "jwt.test", "/orders", tok.AccessToken), 403, "insufficient_scope")
	})

	t.Run("signed inactive response is inactive", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		p.revoke(t, tok.AccessToken)
		expect(t, "revoked token, JWT response", g.check(t, "GET", "jwt.test", "/orders", tok.AccessToken), 401, "inactive")
	})

	t.Run("signature by another key is introspection_error", func(t *testing.T) {
		t.Parallel()
		tok := p.getToken(t, defaultAudience, "orders.read")
		expect(t, "JWKS without the signing key", g.check(t, "GET", "forged.test", "/orders", tok.AccessToken), 503, "introspection_error")
	})

	t.Run("response_format json with the same client gets JSON", func(t *testing.T) {
		t.Parallel()
		// oidc-provider signs only when asked with Accept:
		// application/token-introspection+jwt; a JSON tenant must not ask
		// (a JWT body is not JSON and would fail it).
		tok := p.getToken(t, defaultAudience, "orders.read")
		expect(t, "JSON response", g.check(t, "GET", "json.test", "/orders", tok.AccessToken), 200, "allowed")
	})
}

// forgedJWKS serves a JWKS whose key has the provider's kid but is another
// RSA key.
func forgedJWKS(t *testing.T, p *provider) string {
	t.Helper()
	resp, err := http.Get(p.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Keys) == 0 {
		t.Fatalf("provider JWKS: %v (%d keys)", err, len(set.Keys))
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"keys": []any{rsaJWK(&key.PublicKey, set.Keys[0].Kid)}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks"
}

// The bearer method (a client-credentials token as the introspecting
// client's credentials) has no real-server test: oidc-provider reads only
// HTTP Basic from the Authorization header of an introspection request and
// answers 400 to a Bearer one. introspection/auth_bearer_test.go covers it.
