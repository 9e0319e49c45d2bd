package realas

// Sender-constrained tokens against the real server: DPoP-bound tokens
// (RFC 9449) issued by oidc-provider's token endpoint for the client's own
// proof, and certificate-bound tokens (RFC 8705) issued over mutual TLS,
// then checked by tokengate (contract: "Sender-constrained tokens").

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

// Hosts of the sender-constrained configuration, one per tenant (the
// tenant's name is the host without ".test").
const (
	dpopHost     = "dpop.test"          // required none, strip_authorization, claims_header
	dpopReqHost  = "dpop-required.test" // required dpop
	originHost   = "dpop-origin.test"   // origin https://api.example:8443
	mtlsHost     = "mtls.test"          // required none, certificate_header x-client-cert
	mtlsReqHost  = "mtls-required.test" // required mtls
	anyReqHost   = "any-required.test"  // required any
	claimsHeader = "x-auth-claims"
	certHeader   = "x-client-cert"
	// The default sender_constraint.dpop_algorithms, as the algs of a
	// DPoP challenge.
	defaultAlgs = "ES256 RS256 PS256 EdDSA"
	// The checked request: Envoy's scheme https, a query (ignored by htu).
	orderPath = "/orders/7?page=2"
	orderHTU  = "https://" + dpopHost + "/orders/7"
)

// senderConfig has one tenant per host, named as the host without ".test",
// each with the route pair of route() and the sender_constraint lines.
func senderConfig(p *provider) string {
	basic := fmt.Sprintf("auth_method: client_secret_basic\nclient_id: %s\nclient_secret: %s", yamlString(basicClient), yamlString(basicSecret))
	var tenants, routes string
	for _, tc := range []struct{ host, sender, extra string }{
		{dpopHost, "required: none\ndpop_max_age: 60s", "\n    strip_authorization: true\n    claims_header: " + claimsHeader},
		{dpopReqHost, "required: dpop", ""},
		{originHost, `origin: "https://api.example:8443"`, ""},
		{mtlsHost, "certificate_header: " + certHeader, ""},
		{mtlsReqHost, "required: mtls", ""},
		{anyReqHost, "required: any", ""},
	} {
		name := strings.TrimSuffix(tc.host, ".test")
		tenants += tenant(p, name, basic, "\n    sender_constraint:\n"+indent(tc.sender, 6)+tc.extra)
		routes += route(name, name, tc.host)
	}
	return config(tenants, routes)
}

// startSenderGate starts tokengate on senderConfig, failing with what the
// contract's configuration needs when it does not start.
func startSenderGate(t *testing.T, p *provider) *gate {
	t.Helper()
	g, err := tryStartGate(t, senderConfig(p))
	if err != nil {
		t.Fatalf("tokengate rejects the contract's sender_constraint settings (required none|dpop|mtls|any, dpop_max_age, origin, certificate_header): %v", err)
	}
	return g
}

// presented is what a client presents to the gate beside the request.
type presented struct {
	authorization string // the Authorization header ("" none)
	dpop          string // the DPoP header ("" none)
	certificate   string // attributes.source.certificate ("" none)
	headers       map[string]string
}

// checkAs asks tokengate over gRPC about GET https://host/orders/7?page=2
// as Envoy describes it (scheme https, the peer certificate in
// attributes.source.certificate).
func (g *gate) checkAs(t *testing.T, host string, c presented) result {
	t.Helper()
	headers := map[string]string{}
	for k, v := range c.headers {
		headers[k] = v
	}
	if c.authorization != "" {
		headers["authorization"] = c.authorization
	}
	if c.dpop != "" {
		headers["dpop"] = c.dpop
	}
	req := grpcauthztest.Request{Method: "GET", Host: host, Path: orderPath, Scheme: "https", Protocol: "HTTP/1.1", Headers: headers}.Proto()
	if c.certificate != "" {
		req.Attributes.Source = &authv3.AttributeContext_Peer{
			Address:     &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "192.0.2.10", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 50000}}}},
			Certificate: c.certificate,
		}
	}
	return g.checkRequest(t, req)
}

// httpCheck asks tokengate in HTTP mode (Envoy http_service style, GET
// /authz + the path) about GET host/orders/7?page=2 with headers.
func (g *gate) httpCheck(t *testing.T, host string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.http+"/authz"+orderPath, nil)
	req.Host = host
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("HTTP-mode check: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header, string(body)
}

// wantChallenge fails t unless challenge is
//
//	<scheme> realm="<realm>", error="<code>", error_description="...", [algs="<algs>"]
//
// with a non-empty description and, for DPoP, algs last.
func wantChallenge(t *testing.T, what, challenge, scheme, realm, code, algs string) {
	t.Helper()
	prefix := fmt.Sprintf(`%s realm=%q, error=%q, error_description="`, scheme, realm, code)
	suffix := `"`
	if algs != "" {
		suffix = fmt.Sprintf(`", algs=%q`, algs)
	}
	desc := strings.TrimSuffix(strings.TrimPrefix(challenge, prefix), suffix)
	if !strings.HasPrefix(challenge, prefix) || !strings.HasSuffix(challenge, suffix) || desc == "" || strings.Contains(desc, `"`) {
		t.Errorf("%s: WWW-Authenticate %q, want %s...%s", what, challenge, prefix, suffix)
	}
}

// denied fails t unless r is a 401 with reason and a challenge of scheme
// with error code (and, for DPoP, the default algs).
func denied(t *testing.T, what string, r result, reason, scheme, realm, code string) {
	t.Helper()
	expect(t, what, r, 401, reason)
	algs := ""
	if scheme == "DPoP" {
		algs = defaultAlgs
	}
	wantChallenge(t, what, r.challenge, scheme, realm, code, algs)
}

// tokenClaims decodes the claims_header tokengate set on an allow: the
// claims it got from the introspection answer.
func tokenClaims(t *testing.T, r result) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(r.set[claimsHeader])
	var claims map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &claims)
	}
	if err != nil {
		t.Fatalf("%s %q: %v", claimsHeader, r.set[claimsHeader], err)
	}
	return claims
}

// cnf is the claims' cnf member ("" for a missing one).
func cnf(claims map[string]any, member string) string {
	m, _ := claims["cnf"].(map[string]any)
	s, _ := m[member].(string)
	return s
}

// bentProof is a proof of key for (method, htu, token) whose claims edit,
// when not nil, changes before they are signed.
func bentProof(t *testing.T, key *dpoptest.Key, method, htu, token string, edit func(map[string]any)) string {
	t.Helper()
	claims := dpoptest.Claims(method, htu, token, time.Now())
	if edit != nil {
		edit(claims)
	}
	return key.Sign(t, nil, claims)
}

// TestDPoPRealAuthorizationServer: oidc-provider binds a token to the key of
// the proof sent to its token endpoint (cnf.jkt, token_type "DPoP");
// tokengate allows it with fresh proofs of that key and denies a replayed
// proof, a proof for another URL or method, another key, and the Bearer
// scheme (RFC 9449 §4.3, §7.1, §7.2).
func TestDPoPRealAuthorizationServer(t *testing.T) {
	p := realAS(t)
	g := startSenderGate(t, p)
	key := dpoptest.Fresh(t, "ES256")
	tok, tokenEndpointProof := p.getDPoPToken(t, key, dpopClient, dpopSecret)
	fresh := func(token string) string { return key.Proof(t, "GET", orderHTU, token) }
	asDPoP := func(proof string) presented {
		return presented{authorization: "DPoP " + tok.AccessToken, dpop: proof}
	}

	t.Run("the token endpoint binds the token to the proof's key", func(t *testing.T) {
		claims := p.introspect(t, tok.AccessToken)
		if claims["active"] != true || cnf(claims, "jkt") != key.Thumbprint() || claims["token_type"] != "DPoP" {
			t.Fatalf("introspection of a DPoP-bound token: %v, want active, cnf.jkt %s, token_type DPoP", claims, key.Thumbprint())
		}
		// app-dpop has dpop_bound_access_tokens: no proof, no token.
		status, body := tokenRequest(t, http.DefaultClient, p.Token, url.Values{}, http.Header{"Authorization": {basicAuth(dpopClient, dpopSecret)}})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") {
			t.Errorf("token request of app-dpop without a proof: %d %s, want 400 invalid_grant", status, body)
		}
		// The server refuses a replayed proof too (allowReplay false).
		status, body = tokenRequest(t, http.DefaultClient, p.Token, url.Values{}, http.Header{"Authorization": {basicAuth(dpopClient, dpopSecret)}, "Dpop": {tokenEndpointProof}})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") {
			t.Errorf("token request of app-dpop with its proof replayed: %d %s, want 400 invalid_grant", status, body)
		}
	})

	t.Run("fresh proofs allow, with the claims tokengate got and DPoP stripped", func(t *testing.T) {
		for i, proof := range []string{
			fresh(tok.AccessToken),
			fresh(tok.AccessToken), // claims cached now; the proof is still checked
			// RFC 3986 §6: scheme and host case-insensitive, default port.
			key.Proof(t, "GET", "HTTPS://DPOP.Test:443/orders/7?other=query#frag", tok.AccessToken),
		} {
			r := g.checkAs(t, dpopHost, asDPoP(proof))
			expect(t, fmt.Sprintf("proof %d", i+1), r, 200, "allowed")
			if r.set["x-auth-client-id"] != dpopClient || r.set["x-auth-scope"] != "orders.read" {
				t.Errorf("proof %d: claim headers %v", i+1, r.set)
			}
			claims := tokenClaims(t, r)
			if cnf(claims, "jkt") != key.Thumbprint() || claims["token_type"] != "DPoP" {
				t.Errorf("proof %d: tokengate's claims %v, want cnf.jkt %s and token_type DPoP", i+1, claims, key.Thumbprint())
			}
			for _, h := range []string{"authorization", "dpop"} {
				if !slices.Contains(r.remove, h) {
					t.Errorf("proof %d: strip_authorization: headers_to_remove %v lacks %s", i+1, r.remove, h)
				}
			}
		}
	})

	t.Run("every proof algorithm of the defaults", func(t *testing.T) {
		for _, alg := range []string{"EdDSA", "PS256", "RS256"} {
			k := dpoptest.Fresh(t, alg)
			tk, _ := p.getDPoPToken(t, k, appClient, appSecret) // "app" is bound only because it sent a proof
			for i := range 2 {
				r := g.checkAs(t, dpopHost, presented{authorization: "DPoP " + tk.AccessToken, dpop: k.Proof(t, "GET", orderHTU, tk.AccessToken)})
				expect(t, fmt.Sprintf("%s proof %d", alg, i+1), r, 200, "allowed")
			}
		}
	})

	t.Run("a replayed proof is refused", func(t *testing.T) {
		proof := fresh(tok.AccessToken)
		expect(t, "first use", g.checkAs(t, dpopHost, asDPoP(proof)), 200, "allowed")
		denied(t, "the same proof again", g.checkAs(t, dpopHost, asDPoP(proof)), "invalid_dpop_proof", "DPoP", "dpop", "invalid_dpop_proof")
		// The proof that obtained the token, replayed at the resource.
		denied(t, "the token endpoint's proof", g.checkAs(t, dpopHost, asDPoP(tokenEndpointProof)), "invalid_dpop_proof", "DPoP", "dpop", "invalid_dpop_proof")
	})

	t.Run("a proof for another URL, method, token or time is refused", func(t *testing.T) {
		other := p.getToken(t, defaultAudience, "orders.read")
		for _, tc := range []struct {
			name   string
			method string
			htu    string
			token  string
			edit   func(map[string]any)
		}{
			{"another path", "GET", "https://dpop.test/orders/8", tok.AccessToken, nil},
			{"a path prefix of it", "GET", "https://dpop.test/orders", tok.AccessToken, nil},
			{"another host", "GET", "https://orders.attacker.test/orders/7", tok.AccessToken, nil},
			{"another port", "GET", "https://dpop.test:8443/orders/7", tok.AccessToken, nil},
			{"http for https", "GET", "http://dpop.test/orders/7", tok.AccessToken, nil},
			{"the token endpoint", "GET", p.Token, tok.AccessToken, nil},
			{"another method", "POST", orderHTU, tok.AccessToken, nil},
			{"no ath", "GET", orderHTU, tok.AccessToken, func(c map[string]any) { delete(c, "ath") }},
			{"ath of another token", "GET", orderHTU, other.AccessToken, nil},
			{"iat 5 minutes old", "GET", orderHTU, tok.AccessToken, func(c map[string]any) { c["iat"] = time.Now().Add(-5 * time.Minute).Unix() }},
			{"iat 5 minutes ahead", "GET", orderHTU, tok.AccessToken, func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }},
			{"no jti", "GET", orderHTU, tok.AccessToken, func(c map[string]any) { delete(c, "jti") }},
		} {
			proof := bentProof(t, key, tc.method, tc.htu, tc.token, tc.edit)
			denied(t, tc.name, g.checkAs(t, dpopHost, asDPoP(proof)), "invalid_dpop_proof", "DPoP", "dpop", "invalid_dpop_proof")
		}
		denied(t, "no DPoP header", g.checkAs(t, dpopHost, asDPoP("")), "invalid_dpop_proof", "DPoP", "dpop", "invalid_dpop_proof")
		// Envoy joins repeated headers with ",".
		two := fresh(tok.AccessToken) + "," + fresh(tok.AccessToken)
		denied(t, "two DPoP headers", g.checkAs(t, dpopHost, asDPoP(two)), "invalid_dpop_proof", "DPoP", "dpop", "invalid_dpop_proof")
	})

	t.Run("a proof of another key is refused", func(t *testing.T) {
		thief := dpoptest.Fresh(t, "ES256")
		proof := thief.Proof(t, "GET", orderHTU, tok.AccessToken) // a valid proof in every other respect
		denied(t, "another key", g.checkAs(t, dpopHost, asDPoP(proof)), "invalid_token", "DPoP", "dpop", "invalid_token")
	})

	t.Run("the Bearer scheme is refused for a DPoP-bound token", func(t *testing.T) {
		bearer := "Bearer " + tok.AccessToken
		denied(t, "Bearer, no proof", g.checkAs(t, dpopHost, presented{authorization: bearer}), "invalid_token", "DPoP", "dpop", "invalid_token")
		denied(t, "Bearer with a valid proof", g.checkAs(t, dpopHost, presented{authorization: bearer, dpop: fresh(tok.AccessToken)}), "invalid_token", "DPoP", "dpop", "invalid_token")
	})

	t.Run("an unbound token", func(t *testing.T) {
		plain := p.getToken(t, defaultAudience, "orders.read")
		if plain.TokenType != "Bearer" {
			t.Fatalf("token without a proof: token_type %q", plain.TokenType)
		}
		expect(t, "Bearer where DPoP is not required", g.check(t, "GET", dpopHost, orderPath, plain.AccessToken), 200, "allowed")
		proof := key.Proof(t, "GET", orderHTU, plain.AccessToken)
		denied(t, "sent with the DPoP scheme", g.checkAs(t, dpopHost, presented{authorization: "DPoP " + plain.AccessToken, dpop: proof}), "invalid_token", "DPoP", "dpop", "invalid_token")
		denied(t, "Bearer where DPoP is required", g.check(t, "GET", dpopReqHost, orderPath, plain.AccessToken), "unbound_token", "DPoP", "dpop-required", "invalid_token")
		if r := g.check(t, "GET", dpopReqHost, orderPath, ""); r.status != 401 || r.challenge != `DPoP realm="dpop-required", algs="`+defaultAlgs+`"` {
			t.Errorf("no token where DPoP is required: %s, want 401 with the DPoP challenge", r)
		}
		r := g.checkAs(t, dpopReqHost, presented{authorization: "DPoP " + tok.AccessToken, dpop: key.Proof(t, "GET", "https://"+dpopReqHost+"/orders/7", tok.AccessToken)})
		expect(t, "DPoP-bound where DPoP is required", r, 200, "allowed")
	})

	t.Run("origin names the external URL", func(t *testing.T) {
		r := g.checkAs(t, originHost, asDPoP(key.Proof(t, "GET", "https://api.example:8443/orders/7", tok.AccessToken)))
		expect(t, "htu at origin", r, 200, "allowed")
		r = g.checkAs(t, originHost, asDPoP(key.Proof(t, "GET", "https://"+originHost+"/orders/7", tok.AccessToken)))
		denied(t, "htu at the request's host, not origin", r, "invalid_dpop_proof", "DPoP", "dpop-origin", "invalid_dpop_proof")
	})

	t.Run("HTTP mode", func(t *testing.T) {
		proof := fresh(tok.AccessToken)
		headers := map[string]string{"Authorization": "DPoP " + tok.AccessToken, "DPoP": proof, "X-Forwarded-Proto": "https"}
		if status, _, body := g.httpCheck(t, dpopHost, headers); status != 200 {
			t.Fatalf("HTTP mode, fresh proof: %d %s", status, body)
		}
		status, hdr, body := g.httpCheck(t, dpopHost, headers)
		if status != 401 || !strings.Contains(body, `"invalid_dpop_proof"`) {
			t.Errorf("HTTP mode, replayed proof: %d %s, want 401 invalid_dpop_proof", status, body)
		}
		wantChallenge(t, "HTTP mode, replayed proof", hdr.Get("WWW-Authenticate"), "DPoP", "dpop", "invalid_dpop_proof", defaultAlgs)
		headers["DPoP"], headers["X-Forwarded-Proto"] = fresh(tok.AccessToken), "http"
		if status, _, body := g.httpCheck(t, dpopHost, headers); status != 401 || !strings.Contains(body, `"invalid_dpop_proof"`) {
			t.Errorf("HTTP mode, https proof for an http request (X-Forwarded-Proto): %d %s, want 401 invalid_dpop_proof", status, body)
		}
	})

	// Last: a fresh proof still allows after all the denies.
	expect(t, "fresh proof after the denies", g.checkAs(t, dpopHost, asDPoP(fresh(tok.AccessToken))), 200, "allowed")
	noSecretsInLogs(t, g, dpopSecret, appSecret, basicSecret)
}

// TestCertificateBoundRealAuthorizationServer: oidc-provider authenticates
// app-mtls by its self-signed certificate on a mutual TLS connection
// (RFC 8705 §2.2) and binds the token to it (§3, cnf["x5t#S256"]);
// tokengate allows the token only with that certificate, as Envoy sends it
// in attributes.source.certificate (gRPC) or a trusted proxy in
// certificate_header (HTTP mode).
func TestCertificateBoundRealAuthorizationServer(t *testing.T) {
	p := realAS(t)
	g := startSenderGate(t, p)
	certA, certB, stranger := p.mtls.registered(0), p.mtls.registered(1), p.mtls.stranger()
	tokA := p.getMTLSToken(t, certA)
	withCert := func(tok tokenResponse, cert *tls.Certificate) presented {
		c := presented{authorization: "Bearer " + tok.AccessToken}
		if cert != nil {
			c.certificate = sendertest.EnvoyCertificate(*cert)
		}
		return c
	}

	t.Run("the token endpoint binds the token to the client certificate", func(t *testing.T) {
		claims := p.introspect(t, tokA.AccessToken)
		if claims["active"] != true || cnf(claims, "x5t#S256") != sendertest.X5T(certA) || cnf(claims, "jkt") != "" || claims["token_type"] != "Bearer" {
			t.Fatalf("introspection of a certificate-bound token: %v, want active, cnf.x5t#S256 %s, token_type Bearer", claims, sendertest.X5T(certA))
		}
		for _, tc := range []struct {
			name string
			hc   *http.Client
			url  string
		}{
			{"an unregistered certificate", p.mtlsHTTPClient(t, stranger), p.MTLSToken},
			{"TLS without a client certificate", p.mtlsHTTPClient(t), p.MTLSToken},
			{"plain HTTP", http.DefaultClient, p.Token},
		} {
			status, body := tokenRequest(t, tc.hc, tc.url, url.Values{"client_id": {mtlsClient}}, nil)
			if status != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_client") {
				t.Errorf("token request of app-mtls with %s: %d %s, want 401 invalid_client", tc.name, status, body)
			}
		}
	})

	t.Run("gRPC: the right certificate allows, any other is certificate_mismatch", func(t *testing.T) {
		expect(t, "certificate A", g.checkAs(t, mtlsHost, withCert(tokA, &certA)), 200, "allowed")
		expect(t, "certificate A, claims cached", g.checkAs(t, mtlsHost, withCert(tokA, &certA)), 200, "allowed")
		for _, tc := range []struct {
			name string
			cert *tls.Certificate
		}{
			{"another certificate of the same client", &certB},
			{"a certificate of no client", &stranger},
			{"no certificate", nil},
		} {
			denied(t, tc.name, g.checkAs(t, mtlsHost, withCert(tokA, tc.cert)), "certificate_mismatch", "Bearer", "mtls", "invalid_token")
		}
		// A client-sent copy of the trusted proxy's header counts for
		// nothing in gRPC mode: Envoy's own certificate decides.
		spoof := withCert(tokA, &certB)
		spoof.headers = map[string]string{certHeader: sendertest.EnvoyCertificate(certA)}
		denied(t, "certificate B with a header naming A", g.checkAs(t, mtlsHost, spoof), "certificate_mismatch", "Bearer", "mtls", "invalid_token")

		tokB := p.getMTLSToken(t, certB)
		expect(t, "token of certificate B with B", g.checkAs(t, mtlsHost, withCert(tokB, &certB)), 200, "allowed")
		denied(t, "token of certificate B with A", g.checkAs(t, mtlsHost, withCert(tokB, &certA)), "certificate_mismatch", "Bearer", "mtls", "invalid_token")
	})

	t.Run("HTTP mode: certificate_header from the trusted proxy", func(t *testing.T) {
		headers := map[string]string{"Authorization": "Bearer " + tokA.AccessToken, certHeader: sendertest.EnvoyCertificate(certA)}
		if status, _, body := g.httpCheck(t, mtlsHost, headers); status != 200 {
			t.Fatalf("HTTP mode, certificate A: %d %s", status, body)
		}
		headers[certHeader] = sendertest.EnvoyCertificate(certB)
		status, hdr, body := g.httpCheck(t, mtlsHost, headers)
		if status != 401 || !strings.Contains(body, `"invalid_token"`) {
			t.Errorf("HTTP mode, certificate B: %d %s, want 401 invalid_token", status, body)
		}
		wantChallenge(t, "HTTP mode, certificate B", hdr.Get("WWW-Authenticate"), "Bearer", "mtls", "invalid_token", "")
	})

	t.Run("required mtls and any", func(t *testing.T) {
		plain := p.getToken(t, defaultAudience, "orders.read")
		denied(t, "unbound where mtls is required", g.checkAs(t, mtlsReqHost, withCert(plain, &certA)), "unbound_token", "Bearer", "mtls-required", "invalid_token")
		expect(t, "bound where mtls is required", g.checkAs(t, mtlsReqHost, withCert(tokA, &certA)), 200, "allowed")

		denied(t, "unbound where any binding is required", g.checkAs(t, anyReqHost, withCert(plain, &certA)), "unbound_token", "DPoP", "any-required", "invalid_token")
		expect(t, "certificate-bound where any binding is required", g.checkAs(t, anyReqHost, withCert(tokA, &certA)), 200, "allowed")
		key := dpoptest.Fresh(t, "ES256")
		tokD, _ := p.getDPoPToken(t, key, dpopClient, dpopSecret)
		r := g.checkAs(t, anyReqHost, presented{authorization: "DPoP " + tokD.AccessToken, dpop: key.Proof(t, "GET", "https://"+anyReqHost+"/orders/7", tokD.AccessToken)})
		expect(t, "DPoP-bound where any binding is required", r, 200, "allowed")
	})

	noSecretsInLogs(t, g, dpopSecret, basicSecret)
}
