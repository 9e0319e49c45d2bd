package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/testsupport"
)

// TestDecisionTable walks the contract's decision table over gRPC
// (envoy.service.auth.v3.Authorization/Check).
func TestDecisionTable(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{downURL: "http://" + testsupport.FreeAddr(t) + "/introspect"})

	hour := time.Hour
	as.Claims("good", goodClaims(nil))
	as.Claims("good-400", goodClaims(nil))
	as.Claims("inactive", map[string]any{"active": false})
	as.Claims("expired", goodClaims(map[string]any{"exp": time.Now().Add(-hour).Unix()}))
	as.Claims("issuer", goodClaims(map[string]any{"iss": "https://evil.example"}))
	as.Claims("refresh", goodClaims(map[string]any{"token_type": "refresh_token"}))
	as.Claims("audience", goodClaims(map[string]any{"aud": []string{"api://other"}}))
	as.Claims("profile-only", goodClaims(map[string]any{"scope": "profile"}))
	as.Handle("as-500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	as.Handle("as-html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>oops</html>"))
	})
	as.Handle("as-slow", func(w http.ResponseWriter, r *http.Request) {
		select { // beyond the tenant's 1s timeout
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})

	desc := `, error_description="[^"]+"`
	optDesc := `(, error_description="[^"]*")?`
	rows := []struct {
		name      string
		r         req
		status    int    // 200: allow
		challenge string // regexp for WWW-Authenticate; "" none
		errCode   string // the deny body's error
		noAS      bool   // the authorization server must not be asked
	}{
		{name: "path with ..", r: req{path: "/orders/../admin", auth: bearer("good-400")}, status: 400, errCode: "invalid_request", noAS: true},
		{name: "path with %2F", r: req{path: "/orders%2F1", auth: bearer("good-400")}, status: 400, errCode: "invalid_request", noAS: true},
		{name: "path with backslash", r: req{path: `/orders\1`, auth: bearer("good-400")}, status: 400, errCode: "invalid_request", noAS: true},
		{name: "path without slash", r: req{path: "orders/1", auth: bearer("good-400")}, status: 400, errCode: "invalid_request", noAS: true},
		{name: "no route", r: req{host: "elsewhere.example", path: "/x", auth: bearer("good")}, status: 403, errCode: "access_denied"},
		{name: "unknown route extension", r: req{auth: bearer("good"), ext: map[string]string{"route": "nope"}}, status: 403, errCode: "access_denied"},
		{name: "public route", r: req{host: "any.example", path: "/healthz"}, status: 200},
		{name: "missing token", r: req{}, status: 401, challenge: regexp.QuoteMeta(realm), errCode: "unauthorized"},
		{name: "basic scheme", r: req{auth: "Basic dXNlcjpwYXNz"}, status: 401, challenge: regexp.QuoteMeta(realm), errCode: "unauthorized"},
		{name: "bearer with comma", r: req{auth: "Bearer good-400,good-400"}, status: 400,
			challenge: `^Bearer realm="acme", error="invalid_request"` + optDesc + `$`, errCode: "invalid_request", noAS: true},
		{name: "empty bearer", r: req{auth: "Bearer "}, status: 400,
			challenge: `^Bearer realm="acme", error="invalid_request"` + optDesc + `$`, errCode: "invalid_request", noAS: true},
		{name: "bearer too long", r: req{auth: "Bearer " + strings.Repeat("a", 8193)}, status: 400,
			challenge: `^Bearer realm="acme", error="invalid_request"` + optDesc + `$`, errCode: "invalid_request", noAS: true},
		{name: "inactive", r: req{auth: bearer("inactive")}, status: 401,
			challenge: `^Bearer realm="acme", error="invalid_token"` + optDesc + `$`, errCode: "invalid_token"},
		{name: "unknown token", r: req{auth: bearer("never-issued")}, status: 401,
			challenge: `^Bearer realm="acme", error="invalid_token"` + optDesc + `$`, errCode: "invalid_token"},
		{name: "expired", r: req{auth: bearer("expired")}, status: 401, challenge: `^Bearer realm="acme", error="invalid_token"` + desc + `$`, errCode: "invalid_token"},
		{name: "issuer", r: req{auth: bearer("issuer")}, status: 401, challenge: `^Bearer realm="acme", error="invalid_token"` + desc + `$`, errCode: "invalid_token"},
		{name: "token type", r: req{auth: bearer("refresh")}, status: 401, challenge: `^Bearer realm="acme", error="invalid_token"` + desc + `$`, errCode: "invalid_token"},
		{name: "audience", r: req{auth: bearer("audience")}, status: 401, challenge: `^Bearer realm="acme", error="invalid_token"` + desc + `$`, errCode: "invalid_token"},
		{name: "insufficient scope", r: req{auth: bearer("profile-only")}, status: 403,
			challenge: `^Bearer realm="acme", error="insufficient_scope"` + optDesc + `, scope="orders\.read"$`, errCode: "insufficient_scope"},
		{name: "insufficient scope, two required", r: req{method: "POST", path: "/orders", auth: bearer("good")}, status: 403,
			challenge: `^Bearer realm="acme", error="insufficient_scope"` + optDesc + `, scope="orders\.read orders\.write"$`, errCode: "insufficient_scope"},
		{name: "AS answers 500", r: req{auth: bearer("as-500")}, status: 503, errCode: "temporarily_unavailable"},
		{name: "AS answers HTML", r: req{auth: bearer("as-html")}, status: 503, errCode: "temporarily_unavailable"},
		{name: "AS times out", r: req{auth: bearer("as-slow")}, status: 503, errCode: "temporarily_unavailable"},
		{name: "AS unreachable", r: req{host: "down.example", path: "/x", auth: bearer("good")}, status: 503, errCode: "temporarily_unavailable"},
		{name: "allowed", r: req{auth: bearer("good")}, status: 200},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			before := as.Total()
			a := p.check(t, row.r)
			if a.status != row.status {
				t.Fatalf("status %d, want %d (challenge %q, body %v)", a.status, row.status, a.challenge, a.body)
			}
			if row.status != 200 {
				if a.allow {
					t.Fatal("allowed")
				}
				if row.challenge == "" && a.challenge != "" {
					t.Errorf("WWW-Authenticate %q, want none", a.challenge)
				}
				if row.challenge != "" && !regexp.MustCompile(row.challenge).MatchString(a.challenge) {
					t.Errorf("WWW-Authenticate %q, want /%s/", a.challenge, row.challenge)
				}
				if a.body["error"] != row.errCode {
					t.Errorf("body error %q, want %q (%v)", a.body["error"], row.errCode, a.body)
				}
			}
			if row.noAS && as.Total() != before {
				t.Errorf("the authorization server was asked %d times, want 0", as.Total()-before)
			}
		})
	}
}

// TestClaimHeaders checks what an allow adds and removes, and that claims
// headers sent by the client never pass.
func TestClaimHeaders(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{})
	as.Claims("tok-full", goodClaims(map[string]any{"username": "alice"}))
	as.Claims("tok-no-username", goodClaims(nil))

	smuggled := map[string]string{"x-auth-username": "root", "x-auth-subject": "admin"}
	a := p.check(t, req{auth: bearer("tok-full"), headers: smuggled})
	if !a.allow {
		t.Fatalf("deny %d %v", a.status, a.body)
	}
	want := map[string]string{"x-auth-subject": "user-1", "x-auth-client-id": "app-1", "x-auth-scope": "orders.read profile", "x-auth-username": "alice"}
	for k, v := range want {
		if a.set[k] != v {
			t.Errorf("header %s = %q, want %q (set %v)", k, a.set[k], v, a.set)
		}
	}
	if a.meta["tenant"] != "acme" || a.meta["route"] != "orders-read" || a.meta["sub"] != "user-1" {
		t.Errorf("dynamic metadata %v", a.meta)
	}

	a = p.check(t, req{auth: bearer("tok-no-username"), headers: smuggled})
	if !a.allow {
		t.Fatalf("deny %d %v", a.status, a.body)
	}
	if _, ok := a.set["x-auth-username"]; ok {
		t.Errorf("x-auth-username set to %q for a token without username", a.set["x-auth-username"])
	}
	if !slices.Contains(a.remove, "x-auth-username") {
		t.Errorf("headers_to_remove %v lacks x-auth-username (absent claim)", a.remove)
	}
	if slices.Contains(a.remove, "x-auth-subject") {
		t.Errorf("headers_to_remove %v has x-auth-subject, which is set", a.remove)
	}

	// A public route removes every tenant's claim headers.
	a = p.check(t, req{host: "any.example", path: "/healthz", headers: smuggled})
	if !a.allow || len(a.set) != 0 {
		t.Fatalf("public route: allow %v, set %v", a.allow, a.set)
	}
	for _, h := range []string{"x-auth-subject", "x-auth-client-id", "x-auth-scope", "x-auth-username", "x-down-subject"} {
		if !slices.Contains(a.remove, h) {
			t.Errorf("public route: headers_to_remove %v lacks %s", a.remove, h)
		}
	}
	// The cache holds claims, not decisions: the same cached token is
	// judged against each route.
	if a := p.check(t, req{method: "POST", path: "/orders", auth: bearer("tok-full")}); a.status != 403 {
		t.Errorf("cached token on orders-write: %d, want 403", a.status)
	}
	wantIntrospected(t, as, "tok-full", 1, "cached")
}

// TestConcurrentMissesCoalesce: concurrent checks of one new token make one
// introspection call.
func TestConcurrentMissesCoalesce(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{timeout: "5s"})
	as.Claims("tok-burst", goodClaims(nil))
	as.SetDelay(time.Second) // every check arrives while the first is in flight
	conn := p.grpcConn(t)
	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	results := make(chan result, 8)
	for range 8 {
		go func() {
			resp, err := p.checkRaw(conn, req{auth: bearer("tok-burst")})
			results <- result{resp, err}
		}()
	}
	for range 8 {
		r := <-results
		if r.err != nil {
			t.Fatalf("Check: %v", r.err)
		}
		if a := parseAnswer(t, r.resp); !a.allow {
			t.Errorf("deny %d %v", a.status, a.body)
		}
	}
	wantIntrospected(t, as, "tok-burst", 1, "8 concurrent checks")
	// The waiters count as coalesced lookups, the first as the miss.
	lookups := func(result string) float64 {
		return p.metric(t, "tokengate_cache_lookups_total", map[string]string{"tenant": "acme", "result": result})
	}
	if miss, coalesced := lookups("miss"), lookups("coalesced"); miss+coalesced != 8 || coalesced < 1 {
		t.Errorf("cache lookups: miss %v, coalesced %v; want 8 in all, waiters coalesced", miss, coalesced)
	}
}
