package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestHTTPMode checks the HTTP-mode adapter: Envoy http_service style
// (/authz + the checked path) and forward-auth proxies (X-Forwarded-*).
func TestHTTPMode(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{})
	as.Claims("tok-http", goodClaims(nil))
	base := "http://" + p.httpAddr

	cases := []struct {
		name      string
		method    string
		path      string
		header    http.Header
		status    int
		challenge string // regexp; "" none
		errCode   string
	}{
		{name: "envoy http_service allow", method: "GET", path: "/authz/orders/1",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), status: 200},
		{name: "envoy http_service HEAD allow", method: "HEAD", path: "/authz/orders/1",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), status: 200},
		{name: "envoy http_service missing token", method: "GET", path: "/authz/orders/1",
			header: hdr("Host", "orders.acme.example"), status: 401, challenge: "^" + regexp.QuoteMeta(realm) + "$", errCode: "unauthorized"},
		{name: "envoy http_service insufficient scope", method: "POST", path: "/authz/orders",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), status: 403,
			challenge: `^Bearer realm="acme", error="insufficient_scope".*, scope="orders\.read orders\.write"$`, errCode: "insufficient_scope"},
		{name: "envoy http_service inactive", method: "GET", path: "/authz/orders/1",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-unknown")), status: 401,
			challenge: `^Bearer realm="acme", error="invalid_token"`, errCode: "invalid_token"},
		{name: "envoy http_service malformed path", method: "GET", path: "/authz/orders/%2e%2e/admin",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), status: 400, errCode: "invalid_request"},
		{name: "authz alone checks /", method: "GET", path: "/authz",
			header: hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), status: 403, errCode: "access_denied"},
		{name: "forward-auth allow", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "GET", "X-Forwarded-Host", "orders.acme.example", "X-Forwarded-Uri", "/orders/7?x=1",
				"Authorization", bearer("tok-http")), status: 200},
		{name: "forward-auth method decides the route", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "POST", "X-Forwarded-Host", "orders.acme.example", "X-Forwarded-Uri", "/orders",
				"Authorization", bearer("tok-http")), status: 403, errCode: "insufficient_scope",
			challenge: `^Bearer realm="acme", error="insufficient_scope".*, scope="orders\.read orders\.write"$`},
		{name: "forward-auth missing token", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "GET", "X-Forwarded-Host", "orders.acme.example", "X-Forwarded-Uri", "/orders/7"),
			status: 401, challenge: "^" + regexp.QuoteMeta(realm) + "$", errCode: "unauthorized"},
		{name: "forward-auth public", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "GET", "X-Forwarded-Host", "www.example", "X-Forwarded-Uri", "/healthz"), status: 200},
		{name: "forward-auth no route", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "GET", "X-Forwarded-Host", "elsewhere.example", "X-Forwarded-Uri", "/x",
				"Authorization", bearer("tok-http")), status: 403, errCode: "access_denied"},
		{name: "forward-auth duplicate header", method: "GET", path: "/authz",
			header: hdr("X-Forwarded-Method", "GET", "X-Forwarded-Host", "orders.acme.example", "X-Forwarded-Uri", "/orders/7",
				"X-Forwarded-Uri", "/healthz", "Authorization", bearer("tok-http")), status: 400, errCode: "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := httpDo(t, c.method, base+c.path, c.header, "")
			if code != c.status {
				t.Fatalf("status %d, want %d; WWW-Authenticate %q body %q", code, c.status, h.Get("WWW-Authenticate"), body)
			}
			if c.status == 200 {
				if body != "" {
					t.Errorf("allow body %q, want empty", body)
				}
				return
			}
			ch := h.Get("WWW-Authenticate")
			if c.challenge == "" && ch != "" {
				t.Errorf("WWW-Authenticate %q, want none", ch)
			}
			if c.challenge != "" && !regexp.MustCompile(c.challenge).MatchString(ch) {
				t.Errorf("WWW-Authenticate %q, want /%s/", ch, c.challenge)
			}
			if c.method == "HEAD" {
				return
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			var b map[string]string
			if err := json.Unmarshal([]byte(body), &b); err != nil || b["error"] != c.errCode || b["error_description"] == "" {
				t.Errorf("body %q, want JSON with error %q and error_description", body, c.errCode)
			}
		})
	}

	// An allow carries the claim headers and the list to strip.
	code, h, _ := httpDo(t, "GET", base+"/authz/orders/1", hdr("Host", "orders.acme.example", "Authorization", bearer("tok-http")), "")
	if code != 200 {
		t.Fatalf("allow: %d", code)
	}
	for k, v := range map[string]string{"X-Auth-Subject": "user-1", "X-Auth-Client-Id": "app-1", "X-Auth-Scope": "orders.read profile"} {
		if h.Get(k) != v {
			t.Errorf("allow header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	toRemove := strings.Split(h.Get("X-Envoy-Auth-Headers-To-Remove"), ",")
	if !slices.Contains(toRemove, "x-auth-username") || slices.Contains(toRemove, "x-auth-subject") {
		t.Errorf("x-envoy-auth-headers-to-remove %q, want x-auth-username (absent claim) and not x-auth-subject", h.Get("X-Envoy-Auth-Headers-To-Remove"))
	}
	wantIntrospected(t, as, "tok-http", 1, "cached")
}

// TestHTTPModeXOriginal: with forwarded_headers x-original (nginx
// auth_request) only X-Original-* is read; X-Forwarded-* from a client is
// ignored.
func TestHTTPModeXOriginal(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{forwarded: "x-original"})
	as.Claims("tok-nginx", goodClaims(nil))
	base := "http://" + p.httpAddr + "/authz"

	code, h, _ := httpDo(t, "GET", base, hdr("Host", "orders.acme.example", "X-Original-Method", "GET", "X-Original-URI", "/orders/1",
		"Authorization", bearer("tok-nginx")), "")
	if code != 200 || h.Get("X-Auth-Subject") != "user-1" {
		t.Fatalf("x-original allow: %d, subject %q", code, h.Get("X-Auth-Subject"))
	}
	// The X-Forwarded family is not read: the checked path is /orders/1
	// from X-Original-URI, not the public /healthz.
	code, _, _ = httpDo(t, "GET", base, hdr("Host", "orders.acme.example", "X-Original-URI", "/orders/1",
		"X-Forwarded-Uri", "/healthz", "X-Forwarded-Host", "www.example"), "")
	if code != 401 {
		t.Fatalf("x-original with a smuggled X-Forwarded-Uri: %d, want 401", code)
	}
	code, _, _ = httpDo(t, "GET", base, hdr("Host", "orders.acme.example", "X-Original-Method", "POST", "X-Original-URI", "/orders",
		"Authorization", bearer("tok-nginx")), "")
	if code != 403 {
		t.Fatalf("x-original POST: %d, want 403", code)
	}
}

// TestHTTPModeForwardedNone: with forwarded_headers none (Envoy's
// http_service) neither X-Forwarded-* nor X-Original-* is read: the checked
// request is the incoming one, /authz cut from its path.
func TestHTTPModeForwardedNone(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{forwarded: "none"})
	as.Claims("tok-envoy", goodClaims(nil))
	base := "http://" + p.httpAddr + "/authz"

	code, h, _ := httpDo(t, "GET", base+"/orders/1", hdr("Host", "orders.acme.example", "Authorization", bearer("tok-envoy")), "")
	if code != 200 || h.Get("X-Auth-Subject") != "user-1" {
		t.Fatalf("allow: %d, subject %q", code, h.Get("X-Auth-Subject"))
	}
	// A client's headers naming a public path are not read.
	for _, smuggled := range [][]string{
		{"X-Forwarded-Uri", "/healthz", "X-Forwarded-Method", "GET", "X-Forwarded-Host", "any.example"},
		{"X-Original-URI", "/healthz", "X-Original-Method", "GET"},
	} {
		code, _, _ = httpDo(t, "GET", base+"/orders/1", hdr(append([]string{"Host", "orders.acme.example"}, smuggled...)...), "")
		if code != 401 {
			t.Errorf("with %v: %d, want 401 (the request's own path, which needs a token)", smuggled, code)
		}
	}
	// And a client's method header does not turn a POST into a GET.
	code, _, _ = httpDo(t, "POST", base+"/orders", hdr("Host", "orders.acme.example", "X-Forwarded-Method", "GET",
		"Authorization", bearer("tok-envoy")), "")
	if code != 403 {
		t.Errorf("POST with X-Forwarded-Method GET: %d, want 403 (orders-write needs orders.write)", code)
	}
}
