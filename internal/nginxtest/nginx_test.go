// Package nginxtest runs a real nginx with the shipped auth_request
// configuration (examples/nginx/nginx.conf) in front of a test upstream, with
// tokengate (in process, examples/nginx/tokengate.yaml) answering its auth
// subrequests and a fake RFC 7662 authorization server behind tokengate.
//
// nginx is required: `make nginx-deps` installs it. The test fails, never
// skips, when it is missing.
package nginxtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNginxAuthRequest(t *testing.T) {
	start := time.Now()
	e := setup(t)
	t.Logf("nginx, tokengate, fake AS and upstream up in %v", time.Since(start).Round(time.Millisecond))

	t.Run("good token reaches the upstream with tokengate's headers, spoofed ones replaced", func(t *testing.T) {
		before := e.up.count()
		r := send(t, e.nginx, "GET", "/orders/1?x=1",
			"Authorization: Bearer good",
			"X-Auth-Subject: admin", "X-Auth-Client-Id: evil-app", "X-Auth-Scope: orders.write",
			"X-Original-URI: /elsewhere", "X-Original-Method: DELETE")
		if r.status != 200 || r.body != "upstream ok" {
			t.Fatalf("status %d body %q, want 200 from the upstream", r.status, r.body)
		}
		if e.up.count() != before+1 {
			t.Fatalf("upstream reached %d times, want once", e.up.count()-before)
		}
		seen := e.up.last()
		if got := seen.Header.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "user-1" {
			t.Errorf("upstream X-Auth-Subject %q, want exactly [user-1] (the client sent admin)", got)
		}
		if got := seen.Header.Values("X-Auth-Scope"); len(got) != 1 || got[0] != "orders.read" {
			t.Errorf("upstream X-Auth-Scope %q, want exactly [orders.read]", got)
		}
		// The token has no client_id: the client's copy is dropped, not passed.
		if got := seen.Header.Values("X-Auth-Client-Id"); len(got) != 0 {
			t.Errorf("upstream X-Auth-Client-Id %q, want none (claim absent, client copy dropped)", got)
		}
		if seen.RequestURI != "/orders/1?x=1" || seen.Host != host {
			t.Errorf("upstream got %s %q host %q", seen.Method, seen.RequestURI, seen.Host)
		}
		if seen.Header.Get("Authorization") != "Bearer good" {
			t.Errorf("upstream Authorization %q", seen.Header.Get("Authorization"))
		}
	})

	t.Run("no token is 401 with the bare challenge", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 401, `Bearer realm="`+realm+`"`, "unauthorized", true)
		e.deny(t, "GET", "/orders/1", 401, `Bearer realm="`+realm+`"`, "unauthorized", true, "Authorization: Basic dXNlcjpwdw==")
	})

	t.Run("token without the scope is 403 insufficient_scope", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 403,
			`Bearer realm="`+realm+`", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read"`,
			"insufficient_scope", true, "Authorization: Bearer reader", "X-Auth-Subject: admin")
	})

	t.Run("inactive token is 401 invalid_token", func(t *testing.T) {
		r := e.deny(t, "GET", "/orders/1", 401,
			`Bearer realm="`+realm+`", error="invalid_token", error_description="the token is not active"`,
			"invalid_token", true, "Authorization: Bearer revoked")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("challenge %q", r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("no route is 403 without a challenge, whatever X-Original-URI the client sends", func(t *testing.T) {
		e.deny(t, "GET", "/admin", 403, "", "access_denied", true, "Authorization: Bearer good")
		e.deny(t, "GET", "/admin", 403, "", "access_denied", false, "Authorization: Bearer good",
			"X-Original-URI: /orders/1", "X-Original-Method: GET")
		e.deny(t, "DELETE", "/orders/1", 403, "", "access_denied", true, "Authorization: Bearer good")
	})

	// nginx normalizes the URI ($uri) before it picks a location and runs
	// auth_request, but the configuration hands tokengate $request_uri, the
	// target exactly as the client sent it, which is also what proxy_pass
	// (without a URI part) forwards to the upstream. tokengate refuses dot
	// segments and encoded slashes with 400, and nginx.conf turns
	// auth_request's 500 back into that 400. So a traversal never reaches
	// the upstream, even one that normalizes into the protected prefix with a
	// valid token (/admin/../orders/1): refused rather than guessed at.
	t.Run("path traversal is refused before the upstream", func(t *testing.T) {
		for _, target := range []string{
			"/orders/../admin",
			"/orders/%2e%2e/admin",
			"/orders/%2E%2E/admin?x=1",
			"/orders/..%2Fadmin",
			"/orders/./1",
			"/orders%2F1",
			"/admin/../orders/1",
		} {
			for _, auth := range []string{"Authorization: Bearer good", "Authorization: Bearer reader"} {
				e.deny(t, "GET", target, 400, "", "invalid_request", true, auth)
			}
			e.deny(t, "GET", target, 400, "", "invalid_request", true)
		}
	})

	// Spellings without dot segments or encoded slashes read the same to
	// nginx and tokengate: both merge repeated slashes and decode
	// percent-encoded unreserved characters. They are judged as /orders/1,
	// and the upstream receives them as the client sent them.
	t.Run("merged slashes and encoded letters are judged as nginx reads them", func(t *testing.T) {
		for _, target := range []string{"//orders/1", "/orders//1", "/%6Frders/1"} {
			e.deny(t, "GET", target, 401, `Bearer realm="`+realm+`"`, "unauthorized", true)
			e.deny(t, "GET", target, 403,
				`Bearer realm="`+realm+`", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read"`,
				"insufficient_scope", true, "Authorization: Bearer reader")
			r := send(t, e.nginx, "GET", target, "Authorization: Bearer good", "X-Auth-Subject: admin")
			if r.status != 200 || r.body != "upstream ok" {
				t.Fatalf("GET %s: status %d body %q, want 200 from the upstream", target, r.status, r.body)
			}
			if seen := e.up.last(); seen.RequestURI != target || seen.Header.Get("X-Auth-Subject") != "user-1" {
				t.Errorf("GET %s: upstream got %q with X-Auth-Subject %q", target, seen.RequestURI, seen.Header.Values("X-Auth-Subject"))
			}
		}
	})

	t.Run("malformed bearer is 400 invalid_request with its challenge", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 400, `Bearer realm="`+realm+`", error="invalid_request", error_description="the bearer token is malformed"`,
			"invalid_request", true, "Authorization: Bearer a,b")
	})

	t.Run("authorization server failing is 503", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 503, "", "temporarily_unavailable", true, "Authorization: Bearer broken")
	})

	// Last: it stops tokengate.
	t.Run("tokengate unreachable is 503, never the upstream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("stopping tokengate: %v", err)
		}
		e.deny(t, "GET", "/orders/1", 503, "", "temporarily_unavailable", false, "Authorization: Bearer good")
	})
	t.Logf("all scenarios in %v", time.Since(start).Round(time.Millisecond))
}
