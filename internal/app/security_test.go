package app

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// TestNoTokenSecretOrAuthorizationInLogs runs allows, every kind of deny and
// introspection failures (one whose error body echoes the token) with debug
// logging, then searches every line.
func TestNoTokenSecretOrAuthorizationInLogs(t *testing.T) {
	h, as := startWithAS(t) // debug level
	tokens := []string{"allowtoken-4f1c2a", "inactivetoken-9b8e7d", "echoedtoken-1a2b3c", "refreshtoken-77aa"}
	as.Claims(tokens[0], goodClaims(nil))
	as.Raw(tokens[2], 400, `{"error":"`+tokens[2]+`","error_description":"bad token `+tokens[2]+`"}`)
	as.Claims(tokens[3], goodClaims(map[string]any{"token_type": "refresh_token"}))
	for _, tok := range tokens {
		h.check(t, req{path: "/orders", auth: "Bearer " + tok})
		h.check(t, req{method: "POST", path: "/orders", auth: "Bearer " + tok})
		h.httpCheck(t, req{path: "/orders", auth: "Bearer " + tok}, nil)
	}
	h.check(t, req{path: "/orders", auth: "Bearer malformed token-5e5e"})
	h.check(t, req{path: "/orders", auth: "Basic dXNlcjpwYXNzd29yZA=="})
	logs := h.logs.String()
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("rs:acme") + ":" + url.QueryEscape("s3cret%value")))
	for _, secret := range append(tokens, "token-5e5e", "s3cret", basic, "dXNlcjpwYXNzd29yZA", "Bearer ", "Basic ") {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, `"level":"DEBUG"`) || !strings.Contains(logs, `"msg":"introspection failed"`) {
		t.Fatal("the test did not exercise debug and failure lines")
	}
}

func TestTokenOfOneTenantIsDeniedAtAnother(t *testing.T) {
	acme := introspectiontest.New(t)
	globex := introspectiontest.New(t) // knows nothing of acme's tokens
	acme.Claims("acme-token", goodClaims(nil))
	cfg := strings.Replace(testConfig(acme.URL), acme.URL+"/t/globex.com", globex.URL+"/t/globex.com", 1)
	h := startHarness(t, cfg)
	if a := h.check(t, orders("acme-token")); !a.allow {
		t.Fatalf("at acme: %s", a.reason)
	}
	a := h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer acme-token"})
	if a.allow || a.reason != "inactive" {
		t.Fatalf("acme's token at globex: %d %s", a.status, a.reason)
	}
	if globex.Calls("acme-token") != 1 {
		t.Fatal("globex's answer came from acme's cache, not from globex's server")
	}
}

func TestNothingFromTheCheckedRequestReachesTheAuthorizationServer(t *testing.T) {
	h, as := startWithAS(t)
	h.check(t, req{host: "orders.acme.example", path: "/orders/evil?redirect=http://evil.example", auth: "Bearer t0k",
		extraHeaders: map[string]string{"x-evil": "1", "x-forwarded-host": "evil.example", "cookie": "session=abc", "x-original-uri": "/x"}})
	reqs := as.Requests()
	if len(reqs) == 0 {
		t.Fatal("no introspection call")
	}
	last := reqs[len(reqs)-1]
	asURL, _ := url.Parse(as.URL)
	if last.URL.Path != "/oauth2/introspect" || last.URL.RawQuery != "" || last.Host != asURL.Host {
		t.Errorf("request went to %s%s?%s", last.Host, last.URL.Path, last.URL.RawQuery)
	}
	var names []string
	for k := range last.Header {
		names = append(names, strings.ToLower(k))
	}
	sort.Strings(names)
	for _, n := range names {
		switch n {
		case "accept", "accept-encoding", "authorization", "content-length", "content-type", "user-agent", "traceparent", "tracestate", "baggage", "b3":
		default:
			t.Errorf("unexpected header %q sent to the authorization server", n)
		}
	}
	if u, p, ok := last.BasicAuth(); !ok || u != url.QueryEscape("rs:acme") || p != url.QueryEscape("s3cret%value") {
		t.Errorf("authorization to the server is not the tenant's client credentials: %q", last.Header.Get("Authorization"))
	}
	form := last.Form
	if len(form) != 2 || form.Get("token") != "t0k" || form.Get("token_type_hint") != "access_token" {
		t.Errorf("form %v", form)
	}
}

func TestTLSToTheAuthorizationServerIsVerified(t *testing.T) {
	as := introspectiontest.NewTLS(t)
	as.HandleUnknown(introspectiontest.Reply(http.StatusOK, `{"active":true,"scope":"orders.read","aud":"api://orders"}`))
	h := startHarness(t, testConfig(as.URL))
	if a := h.check(t, orders("x")); a.reason != "introspection_error" {
		t.Fatalf("an unverified certificate was accepted: %s", a.reason)
	}
	insecure := strings.Replace(testConfig(as.URL), "      timeout: 1s\n", "      timeout: 1s\n      insecure_skip_verify: true\n", 1)
	h2 := startHarness(t, insecure)
	if a := h2.check(t, orders("x")); !a.allow {
		t.Fatalf("insecure_skip_verify: %s", a.reason)
	}
	if !strings.Contains(h2.logs.String(), `"level":"WARN"`) || !strings.Contains(h2.logs.String(), "insecure_skip_verify") {
		t.Errorf("no warning at start for insecure_skip_verify: %s", h2.logs.String())
	}
}
