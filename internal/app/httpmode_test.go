package app

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// httpCheck sends r through HTTP mode the way Envoy's http_service does
// (path_prefix /authz, the checked request's method and Host).
func (h *harness) httpCheck(t *testing.T, r req, extra map[string]string) answer {
	t.Helper()
	method := r.method
	if method == "" {
		method = "GET"
	}
	host := r.host
	if host == "" {
		host = "orders.acme.example"
	}
	hr, err := http.NewRequest(method, "http://"+h.srv.HTTPAddress()+"/authz", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.URL.Opaque = "/authz" + r.path // sent as is, unclean paths included
	hr.Host = host
	if !r.noAuth {
		hr.Header.Set("Authorization", r.auth)
	}
	for k, v := range extra {
		hr.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, allow: resp.StatusCode == 200, challenge: resp.Header.Get("WWW-Authenticate"), set: map[string]string{}}
	if a.allow {
		if len(body) != 0 {
			t.Errorf("allow with a body: %q", body)
		}
		for k := range resp.Header {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-auth-") || strings.HasPrefix(lk, "x-globex-") {
				a.set[lk] = resp.Header.Get(k)
			}
		}
		if rm := resp.Header.Get("X-Envoy-Auth-Headers-To-Remove"); rm != "" {
			a.remove = strings.Split(rm, ",")
		}
		return a
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("deny content-type %q", ct)
	}
	if err := json.Unmarshal(body, &a.body); err != nil || a.body["error"] == "" || a.body["error_description"] == "" {
		t.Errorf("deny body %q: %v", body, err)
	}
	return a
}

// TestHTTPModeMakesTheSameDecisionsAsGRPC sends every case through both
// front ends: same status, challenge, body and headers.
func TestHTTPModeMakesTheSameDecisionsAsGRPC(t *testing.T) {
	as := introspectiontest.New(t)
	cfg := strings.Replace(testConfig(as.URL), "http:\n  address: \"127.0.0.1:0\"\n", "http:\n  address: \"127.0.0.1:0\"\n  forwarded_headers: none\n", 1)
	h := startHarness(t, cfg)
	as.Claims("good", goodClaims(nil))
	as.Claims("expired", goodClaims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	as.Claims("refresh", goodClaims(map[string]any{"token_type": "refresh_token"}))
	as.Claims("no-scope", goodClaims(map[string]any{"scope": "profile"}))
	as.Raw("broken", 500, "<html>")
	cases := []req{
		{path: "/orders", noAuth: true},
		{method: "POST", path: "/orders", auth: "Bearer good"},
		{path: "/healthz", noAuth: true},
		{host: "api.globex.example", path: "/", auth: "Bearer nope"},
	}
	// A good token on paths clean and not, and every kind of credentials
	// on /orders.
	for _, p := range []string{"/orders/1?x=1", "/orders/../admin", "/orders/%2e%2e/admin", "/orders%2F1", "//orders//1", "/admin", "/reports"} {
		cases = append(cases, req{path: p, auth: "Bearer good"})
	}
	for _, auth := range []string{"Basic abc", "Bearer", "Bearer a,b", "Bearer inactive-one", "Bearer expired", "Bearer refresh", "Bearer no-scope", "Bearer broken"} {
		cases = append(cases, req{path: "/orders", auth: auth})
	}
	for _, c := range cases {
		g := h.check(t, c)
		hm := h.httpCheck(t, c, nil)
		if g.status != hm.status || g.challenge != hm.challenge {
			t.Errorf("%s %s %q: gRPC %d %q, HTTP %d %q", c.method, c.path, c.auth, g.status, g.challenge, hm.status, hm.challenge)
			continue
		}
		if !g.allow && (g.body["error"] != hm.body["error"] || g.body["error_description"] != hm.body["error_description"]) {
			t.Errorf("%s: bodies differ: %v vs %v", c.path, g.body, hm.body)
		}
		if g.allow {
			for k, v := range g.set {
				if k != "x-auth-claims" && hm.set[k] != v {
					t.Errorf("%s: header %s gRPC %q HTTP %q", c.path, k, v, hm.set[k])
				}
			}
			if strings.Join(g.remove, ",") != strings.Join(hm.remove, ",") {
				t.Errorf("%s: remove gRPC %v HTTP %v", c.path, g.remove, hm.remove)
			}
		}
	}
}

func TestHTTPModeAllow(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	a := h.httpCheck(t, req{path: "/orders/1", auth: "Bearer good"}, nil)
	if !a.allow || a.set["x-auth-subject"] != "user-1" || a.set["x-auth-scope"] != "orders.read profile" {
		t.Fatalf("allow: %+v", a)
	}
	if claims, err := base64.RawURLEncoding.DecodeString(a.set["x-auth-claims"]); err != nil || !strings.Contains(string(claims), `"sub":"user-1"`) {
		t.Errorf("claims header %q", a.set["x-auth-claims"])
	}
	if a.set["x-auth-username"] != "alice" {
		t.Errorf("x-auth-username = %q", a.set["x-auth-username"])
	}
	for _, want := range []string{"x-auth-org", "authorization", "x-globex-subject"} {
		if !strings.Contains(","+strings.Join(a.remove, ",")+",", ","+want+",") {
			t.Errorf("x-envoy-auth-headers-to-remove %v lacks %s", a.remove, want)
		}
	}
}

func TestForwardAuthHeaderFamilies(t *testing.T) {
	as := newGoodAS(t)
	spoofed := map[string]string{
		"X-Forwarded-Method": "GET", "X-Forwarded-Host": "orders.acme.example", "X-Forwarded-Uri": "/orders/1",
		"X-Original-Method": "GET", "X-Original-URI": "/orders/1",
	}
	tests := []struct {
		family string
		host   string // Host of the auth request itself
		want   int
	}{
		// Traefik/Caddy: the checked request is in X-Forwarded-*.
		{"x-forwarded", "tokengate.internal", 200},
		// nginx: X-Original-URI and Method, host from Host.
		{"x-original", "orders.acme.example", 200},
		// x-original ignores X-Forwarded-Host: tokengate.internal matches no orders route.
		{"x-original", "tokengate.internal", 403},
		// none: only the request itself (/authz → "/"), so no route.
		{"none", "orders.acme.example", 403},
	}
	for _, tt := range tests {
		t.Run(tt.family+"/"+tt.host, func(t *testing.T) {
			cfg := strings.Replace(testConfig(as.URL), "http:\n  address: \"127.0.0.1:0\"\n",
				"http:\n  address: \"127.0.0.1:0\"\n  forwarded_headers: "+tt.family+"\n", 1)
			h := startHarness(t, cfg)
			if a := h.httpCheck(t, req{host: tt.host, path: "", auth: "Bearer good"}, spoofed); a.status != tt.want {
				t.Fatalf("status %d, want %d", a.status, tt.want)
			}
		})
	}
}

func TestHTTPModeDoesNotTouchOtherPaths(t *testing.T) {
	h, _ := startWithAS(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/authzfoo": 404, "/nope": 404} {
		resp, err := http.Get("http://" + h.srv.HTTPAddress() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
