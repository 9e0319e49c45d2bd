package nginxtest

// Sender-constrained tokens through the shipped nginx configuration: the
// DPoP header and the client certificate of nginx's TLS listener
// ($ssl_client_escaped_cert in X-Client-Cert, tokengate.yaml's
// certificate_header) reach tokengate, and a client can never name a
// certificate itself.

import (
	"crypto/tls"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

// orderHTU is the URL a client's proof names for GET /orders/1 on nginx's
// TLS listener: tokengate (forwarded_headers x-original) reads the scheme as
// https and the authority from Host, which nginx sets to $host.
const orderHTU = "https://" + host + "/orders/1"

// denied fails t unless r is a deny with status and a JSON body whose error
// is errCode, with exactly one challenge starting with challenge, and the
// upstream was not reached (it had seen before requests).
func (e *env) denied(t *testing.T, what string, r response, before, status int, challenge, errCode string) {
	t.Helper()
	if n := e.up.count() - before; n != 0 {
		t.Errorf("%s: reached the upstream %d time(s)", what, n)
	}
	if r.status != status {
		t.Fatalf("%s: status %d, want %d (body %q)", what, r.status, status, r.body)
	}
	if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], challenge) {
		t.Errorf("%s: WWW-Authenticate %q, want one starting %q", what, got, challenge)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["error"] != errCode || body["error_description"] == "" {
		t.Errorf("%s: body %q, want JSON with error %q (%v)", what, r.body, errCode, err)
	}
}

// allowed fails t unless r is the upstream's answer to one more request.
func (e *env) allowed(t *testing.T, what string, r response, before int) {
	t.Helper()
	if r.status != 200 || r.body != "upstream ok" || e.up.count() != before+1 {
		t.Fatalf("%s: status %d body %q, upstream reached %d times; want 200 from the upstream once", what, r.status, r.body, e.up.count()-before)
	}
}

func TestNginxSenderConstrained(t *testing.T) {
	e := setup(t)
	key, cert := e.bound.key, e.bound.cert
	other := e.ca.KeyPair(t, 11, "another client", false)
	dpopChallenge := func(code string) string {
		return `DPoP realm="` + realm + `", error="` + code + `", error_description="`
	}
	bearerChallenge := `Bearer realm="` + realm + `", error="invalid_token", error_description="`

	t.Run("DPoP: a fresh proof reaches tokengate through nginx", func(t *testing.T) {
		proof := key.Proof(t, "GET", orderHTU, "dpop-bound")
		before := e.up.count()
		e.allowed(t, "fresh proof", sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: DPoP dpop-bound", "DPoP: "+proof), before)
		if got := e.up.last().Header.Get("X-Auth-Subject"); got != "user-3" {
			t.Errorf("upstream X-Auth-Subject %q, want user-3", got)
		}
		before = e.up.count()
		r := sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: DPoP dpop-bound", "DPoP: "+proof)
		e.denied(t, "the same proof again", r, before, 401, dpopChallenge("invalid_dpop_proof"), "invalid_dpop_proof")
		if !strings.HasSuffix(r.header.Get("WWW-Authenticate"), `algs="ES256 RS256 PS256 EdDSA"`) {
			t.Errorf("challenge %q lacks the default algs", r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("DPoP: the Bearer scheme, another URL and the plain listener are refused", func(t *testing.T) {
		before := e.up.count()
		r := sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: Bearer dpop-bound", "DPoP: "+key.Proof(t, "GET", orderHTU, "dpop-bound"))
		e.denied(t, "Bearer scheme", r, before, 401, dpopChallenge("invalid_token"), "invalid_token")
		r = sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: DPoP dpop-bound", "DPoP: "+key.Proof(t, "GET", "https://"+host+"/orders/2", "dpop-bound"))
		e.denied(t, "proof for /orders/2", r, before, 401, dpopChallenge("invalid_dpop_proof"), "invalid_dpop_proof")
		// X-Original-URI is the raw target: a query is not part of htu.
		r = sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1?x=1", nil, "Authorization: DPoP dpop-bound", "DPoP: "+key.Proof(t, "GET", orderHTU, "dpop-bound"))
		e.allowed(t, "proof without the query", r, before)
		// Behind nginx, tokengate takes the scheme as https: a proof for the
		// plain listener's http URL does not match.
		before = e.up.count()
		r = send(t, e.nginx, "GET", "/orders/1", "Authorization: DPoP dpop-bound", "DPoP: "+key.Proof(t, "GET", "http://"+host+"/orders/1", "dpop-bound"))
		e.denied(t, "proof for http:// on the plain listener", r, before, 401, dpopChallenge("invalid_dpop_proof"), "invalid_dpop_proof")
	})

	t.Run("certificate-bound: nginx's client certificate decides", func(t *testing.T) {
		before := e.up.count()
		e.allowed(t, "the bound certificate", sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", []tls.Certificate{cert}, "Authorization: Bearer cert-bound"), before)
		seen := e.up.last().Header.Get("X-Client-Cert")
		if pemText, err := url.PathUnescape(seen); err != nil || !strings.HasPrefix(pemText, "-----BEGIN CERTIFICATE-----") {
			t.Errorf("upstream X-Client-Cert %q: want nginx's escaped PEM (%v)", seen, err)
		}

		before = e.up.count()
		r := sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", []tls.Certificate{other}, "Authorization: Bearer cert-bound")
		e.denied(t, "another certificate", r, before, 401, bearerChallenge, "invalid_token")
		// A client naming the bound certificate itself: nginx replaces the
		// header with the connection's certificate, or drops it.
		spoof := "X-Client-Cert: " + sendertest.EnvoyCertificate(cert)
		r = sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", []tls.Certificate{other}, "Authorization: Bearer cert-bound", spoof)
		e.denied(t, "another certificate and a spoofed header", r, before, 401, bearerChallenge, "invalid_token")
		r = sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: Bearer cert-bound", spoof)
		e.denied(t, "no certificate and a spoofed header", r, before, 401, bearerChallenge, "invalid_token")
		r = send(t, e.nginx, "GET", "/orders/1", "Authorization: Bearer cert-bound", spoof)
		e.denied(t, "the plain listener and a spoofed header", r, before, 401, bearerChallenge, "invalid_token")
	})

	t.Run("unbound tokens are unaffected on both listeners", func(t *testing.T) {
		before := e.up.count()
		e.allowed(t, "TLS with a certificate", sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", []tls.Certificate{other}, "Authorization: Bearer good"), before)
		e.allowed(t, "plain", send(t, e.nginx, "GET", "/orders/1", "Authorization: Bearer good"), before+1)
	})

	// The DPoP key type does not matter to nginx; one more algorithm proves
	// the proof passes unaltered (RSA proofs are long).
	t.Run("an RSA proof passes through", func(t *testing.T) {
		rsaKey := dpoptest.Fresh(t, "PS256")
		before := e.up.count()
		r := sendTLS(t, e.nginxTLS, e.ca, "GET", "/orders/1", nil, "Authorization: DPoP dpop-bound", "DPoP: "+rsaKey.Proof(t, "GET", orderHTU, "dpop-bound"))
		// Bound to the ES256 key: another key is invalid_token, which
		// tokengate says only after verifying the RSA proof's signature.
		e.denied(t, "PS256 proof of another key", r, before, 401, dpopChallenge("invalid_token"), "invalid_token")
	})
}
