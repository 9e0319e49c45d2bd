package app

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// TestNoTokenSecretOrAuthorizationInLogs runs allows, every kind of deny and
// introspection failures (one whose error body echoes the token) with debug
// logging, then searches every line.
func TestNoTokenSecretOrAuthorizationInLogs(t *testing.T) {
	as := newFakeAS(t)
	h := startHarness(t, testConfig(as.URL)) // debug level
	tokens := []string{"allowtoken-4f1c2a", "inactivetoken-9b8e7d", "echoedtoken-1a2b3c", "refreshtoken-77aa"}
	as.claims(tokens[0], goodClaims(nil))
	as.raw(tokens[2], 400, `{"error":"`+tokens[2]+`","error_description":"bad token `+tokens[2]+`"}`)
	as.claims(tokens[3], goodClaims(map[string]any{"token_type": "refresh_token"}))
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
	acme := newFakeAS(t)
	globex := newFakeAS(t) // knows nothing of acme's tokens
	acme.claims("acme-token", goodClaims(nil))
	cfg := strings.Replace(testConfig(acme.URL), acme.URL+"/t/globex.com", globex.URL+"/t/globex.com", 1)
	h := startHarness(t, cfg)
	if a := h.check(t, req{path: "/orders", auth: "Bearer acme-token"}); !a.allow {
		t.Fatalf("at acme: %s", a.reason)
	}
	a := h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer acme-token"})
	if a.allow || a.reason != "inactive" {
		t.Fatalf("acme's token at globex: %d %s", a.status, a.reason)
	}
	if globex.callsFor("acme-token") != 1 {
		t.Fatal("globex's answer came from acme's cache, not from globex's server")
	}
}

func TestNothingFromTheCheckedRequestReachesTheAuthorizationServer(t *testing.T) {
	as := newFakeAS(t)
	h := startHarness(t, testConfig(as.URL))
	h.check(t, req{host: "orders.acme.example", path: "/orders/evil?redirect=http://evil.example", auth: "Bearer t0k",
		extraHeaders: map[string]string{"x-evil": "1", "x-forwarded-host": "evil.example", "cookie": "session=abc", "x-original-uri": "/x"}})
	as.mu.Lock()
	last := as.last
	as.mu.Unlock()
	if last == nil {
		t.Fatal("no introspection call")
	}
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
	form := last.PostForm
	if len(form) != 2 || form.Get("token") != "t0k" || form.Get("token_type_hint") != "access_token" {
		t.Errorf("form %v", form)
	}
}

func TestTLSToTheAuthorizationServerIsVerified(t *testing.T) {
	as := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"active":true,"scope":"orders.read","aud":"api://orders"}`))
	}))
	defer as.Close()
	h := startHarness(t, testConfig(as.URL))
	if a := h.check(t, req{path: "/orders", auth: "Bearer x"}); a.reason != "introspection_error" {
		t.Fatalf("an unverified certificate was accepted: %s", a.reason)
	}
	insecure := strings.Replace(testConfig(as.URL), "      timeout: 1s\n", "      timeout: 1s\n      insecure_skip_verify: true\n", 1)
	h2 := startHarness(t, insecure)
	if a := h2.check(t, req{path: "/orders", auth: "Bearer x"}); !a.allow {
		t.Fatalf("insecure_skip_verify: %s", a.reason)
	}
	if !strings.Contains(h2.logs.String(), `"level":"WARN"`) || !strings.Contains(h2.logs.String(), "insecure_skip_verify") {
		t.Errorf("no warning at start for insecure_skip_verify: %s", h2.logs.String())
	}
}
