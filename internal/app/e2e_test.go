package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/grpcauthz"
	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

type req struct {
	method, host, path, auth string
	noAuth                   bool
	route                    string
	emptyRouteExtension      bool
	extraHeaders             map[string]string
}

func (r req) proto() *authv3.CheckRequest {
	if r.host == "" {
		r.host = "orders.acme.example"
	}
	headers := map[string]string{}
	if !r.noAuth {
		headers["authorization"] = r.auth
	}
	maps.Copy(headers, r.extraHeaders)
	var ext map[string]string
	if r.route != "" || r.emptyRouteExtension {
		ext = map[string]string{"route": r.route}
	}
	return grpcauthztest.Request{Method: r.method, Host: r.host, Path: r.path, Headers: headers, Extensions: ext}.Proto()
}

// answer is what a CheckResponse says, in HTTP terms.
type answer struct {
	allow     bool
	status    int
	challenge string
	body      map[string]string
	set       map[string]string
	remove    []string
	reason    string
	resp      *authv3.CheckResponse
}

func (h *harness) check(t *testing.T, r req) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.client.Check(ctx, r.proto())
	if err != nil {
		t.Fatalf("Check returned a gRPC error (denies must be responses): %v", err)
	}
	a := grpcauthztest.ParseAnswer(t, resp)
	return answer{allow: a.Allow, status: a.Status, challenge: a.Challenge, body: a.Body, set: a.Set, remove: a.Remove, reason: a.Reason, resp: resp}
}

const realm = `Bearer realm="acme"`

func TestDecisionTableEndToEnd(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	as.Claims("inactive", map[string]any{"active": false})
	as.Claims("expired", goodClaims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	as.Claims("future", goodClaims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))
	as.Claims("other-iss", goodClaims(map[string]any{"iss": "https://idp.acme.example/"}))
	as.Claims("refresh", goodClaims(map[string]any{"token_type": "refresh_token"}))
	as.Claims("wrong-aud", goodClaims(map[string]any{"aud": []string{"api://billing"}}))
	as.Claims("no-scope", goodClaims(map[string]any{"scope": "profile"}))
	as.Raw("as-500", 500, "<html>oops</html>")
	as.Raw("as-notjson", 200, "{'active':false}")
	as.Raw("as-noactive", 200, `{"sub":"x"}`)
	as.Raw("as-badtype", 200, `{"active":true,"exp":"tomorrow"}`)
	as.Handle("as-slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }) // beyond acme's 1s timeout

	tests := []struct {
		name      string
		req       req
		status    int
		reason    string
		challenge string
		asCalls   int // expected calls for req.auth's token; -1: not checked
	}{
		{"path without leading slash", req{path: "orders", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"dot-dot segment", req{path: "/orders/../admin", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"encoded dot-dot", req{path: "/orders/%2e%2e/admin", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"encoded slash", req{path: "/orders%2F1", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"encoded backslash", req{path: "/orders%5c1", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"backslash", req{path: "/orders\\1", auth: "Bearer good"}, 400, "malformed_request", "", 0},
		{"malformed path beats unknown route", req{path: "/./x", route: "nope"}, 400, "malformed_request", "", -1},
		{"no route matches", req{path: "/admin", auth: "Bearer good"}, 403, "no_route", "", 0},
		{"method matches no route", req{method: "DELETE", path: "/orders", auth: "Bearer good"}, 403, "no_route", "", 0},
		{"unknown route extension", req{path: "/orders", route: "nope", auth: "Bearer good"}, 403, "no_route", "", 0},
		{"no authorization header", req{path: "/orders", noAuth: true}, 401, "missing_token", realm, -1},
		{"empty authorization header", req{path: "/orders", auth: ""}, 401, "missing_token", realm, -1},
		{"basic scheme", req{path: "/orders", auth: "Basic dXNlcjpwYXNz"}, 401, "missing_token", realm, -1},
		{"Bearerabc is another scheme", req{path: "/orders", auth: "Bearerabc"}, 401, "missing_token", realm, -1},
		{"bearer without token", req{path: "/orders", auth: "Bearer"}, 400, "malformed_token", realm + `, error="invalid_request", error_description="the bearer token is malformed"`, -1},
		{"bearer with space inside", req{path: "/orders", auth: "Bearer good x"}, 400, "malformed_token", realm + `, error="invalid_request", error_description="the bearer token is malformed"`, -1},
		{"duplicate headers comma-joined", req{path: "/orders", auth: "Bearer good,Bearer good"}, 400, "malformed_token", realm + `, error="invalid_request", error_description="the bearer token is malformed"`, -1},
		{"not token68", req{path: "/orders", auth: "Bearer go\"od"}, 400, "malformed_token", realm + `, error="invalid_request", error_description="the bearer token is malformed"`, -1},
		{"too long", req{path: "/orders", auth: "Bearer " + strings.Repeat("g", 8193)}, 400, "malformed_token", realm + `, error="invalid_request", error_description="the bearer token is malformed"`, -1},
		{"inactive", orders("inactive"), 401, "inactive", realm + `, error="invalid_token", error_description="the token is not active"`, 1},
		{"unknown token is inactive", orders("never-issued"), 401, "inactive", realm + `, error="invalid_token", error_description="the token is not active"`, 1},
		{"expired", orders("expired"), 401, "expired", realm + `, error="invalid_token", error_description="the token has expired"`, 1},
		{"not yet valid", orders("future"), 401, "not_yet_valid", realm + `, error="invalid_token", error_description="the token is not valid yet"`, 1},
		{"other issuer", orders("other-iss"), 401, "issuer", realm + `, error="invalid_token", error_description="the token was issued by another issuer"`, 1},
		{"refresh token", orders("refresh"), 401, "token_type", realm + `, error="invalid_token", error_description="the token type is not accepted"`, 1},
		{"wrong audience", orders("wrong-aud"), 401, "audience", realm + `, error="invalid_token", error_description="the token is not meant for this audience"`, 1},
		{"route audience replaces tenant's", req{path: "/reports", auth: "Bearer good"}, 401, "audience", realm + `, error="invalid_token", error_description="the token is not meant for this audience"`, -1},
		{"missing scope", orders("no-scope"), 403, "insufficient_scope", realm + `, error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read"`, 1},
		{"missing one of all scopes", req{method: "POST", path: "/orders", auth: "Bearer good"}, 403, "insufficient_scope", realm + `, error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read orders.write"`, -1},
		{"as answers 500", orders("as-500"), 503, "introspection_error", "", 1},
		{"as answers non-JSON", orders("as-notjson"), 503, "introspection_error", "", 1},
		{"as answers without active", orders("as-noactive"), 503, "introspection_error", "", 1},
		{"as answers wrong claim type", orders("as-badtype"), 503, "introspection_error", "", 1},
		{"as times out", orders("as-slow"), 503, "introspection_error", "", -1},
		{"public route", req{path: "/healthz", noAuth: true}, 200, "public", "", -1},
		{"allow", req{path: "/orders/1?x=1", auth: "Bearer good"}, 200, "allowed", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := strings.TrimPrefix(tt.req.auth, "Bearer ")
			before := as.Calls(token)
			a := h.check(t, tt.req)
			if a.status != tt.status || a.reason != tt.reason {
				t.Fatalf("status %d reason %q, want %d %q (body %v)", a.status, a.reason, tt.status, tt.reason, a.body)
			}
			if a.challenge != tt.challenge {
				t.Errorf("WWW-Authenticate = %q\n                        want %q", a.challenge, tt.challenge)
			}
			if tt.asCalls >= 0 {
				if got := as.Calls(token) - before; got != tt.asCalls {
					t.Errorf("authorization server calls = %d, want %d", got, tt.asCalls)
				}
			}
		})
	}
	if as.Calls("") != 0 {
		t.Error("the authorization server was asked about an empty token")
	}
	if strings.Contains(h.logs.String(), "s3cret") {
		t.Error("the client secret appears in the logs")
	}
}

func TestAllowSetsAndRemovesHeaders(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(map[string]any{"username": "evil\r\nx-admin: 1", "exp": 1.9e9}))
	a := h.check(t, req{path: "/orders/7", auth: "Bearer good", extraHeaders: map[string]string{"x-auth-subject": "spoofed"}})
	if !a.allow {
		t.Fatalf("denied: %d %s", a.status, a.reason)
	}
	want := map[string]string{"x-auth-subject": "user-1", "x-auth-client-id": "app-1", "x-auth-scope": "orders.read profile"}
	for k, v := range want {
		if a.set[k] != v {
			t.Errorf("header %s = %q, want %q", k, a.set[k], v)
		}
	}
	claimsJSON, err := base64.RawURLEncoding.DecodeString(a.set["x-auth-claims"])
	if err != nil {
		t.Fatalf("claims header: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(claimsJSON, &claims); err != nil || claims["sub"] != "user-1" {
		t.Errorf("claims header JSON = %s", claimsJSON)
	}
	if _, sent := a.set["x-auth-username"]; sent {
		t.Error("a value with CR/LF was sent")
	}
	for _, name := range []string{"x-auth-username", "x-auth-org", "authorization", "x-globex-subject"} {
		if !slices.Contains(a.remove, name) {
			t.Errorf("headers_to_remove %v lacks %s", a.remove, name)
		}
	}
	md := a.resp.GetDynamicMetadata().GetFields()
	for k, v := range map[string]string{"tenant": "acme", "route": "orders-read", "sub": "user-1", "client_id": "app-1", "scope": "orders.read profile"} {
		if got := md[k].GetStringValue(); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
}

func TestPublicRouteStripsEveryClaimHeader(t *testing.T) {
	h, as := startWithAS(t)
	a := h.check(t, req{path: "/healthz/live", auth: "Bearer whatever"})
	if !a.allow || a.reason != "public" || len(a.set) != 0 {
		t.Fatalf("public route: %+v", a)
	}
	for _, name := range []string{"x-auth-subject", "x-auth-client-id", "x-auth-scope", "x-auth-username", "x-auth-org", "x-auth-claims", "x-globex-subject"} {
		if !slices.Contains(a.remove, name) {
			t.Errorf("headers_to_remove %v lacks %s", a.remove, name)
		}
	}
	if as.Total() != 0 {
		t.Error("a public route called the authorization server")
	}
	// Dynamic metadata names the route, and nothing about a token.
	if f := a.resp.GetDynamicMetadata().GetFields(); len(f) != 1 || f["route"].GetStringValue() != "health" {
		t.Errorf("a public route's dynamic metadata: %v, want the route only", f)
	}
}

func TestRouteSelection(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(map[string]any{"aud": []string{"api://orders", "api://reports"}, "scope": "orders.read reports.view"}))
	tests := []struct {
		name  string
		req   req
		route string
	}{
		{"extension picks the route, skipping matching", req{path: "/anything", route: "reports", auth: "Bearer good"}, "reports"},
		{"empty extension counts as absent", req{path: "/orders", auth: "Bearer good", emptyRouteExtension: true}, "orders-read"},
		{"host with port and case", req{host: "ORDERS.acme.example:8443", path: "/orders", auth: "Bearer good"}, "orders-read"},
		{"wildcard host", req{host: "eu.orders.acme.example", path: "/orders", auth: "Bearer good"}, "orders-read"},
		{"query string ignored", req{path: "/reports?path=/orders", auth: "Bearer good"}, "reports"},
		{"merged slashes", req{path: "//orders//1", auth: "Bearer good"}, "orders-read"},
		{"decoded unreserved", req{path: "/%6Frders", auth: "Bearer good"}, "orders-read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.check(t, tt.req)
			if !a.allow {
				t.Fatalf("denied %d %s", a.status, a.reason)
			}
			if got := a.resp.GetDynamicMetadata().GetFields()["route"].GetStringValue(); got != tt.route {
				t.Errorf("route = %q, want %q", got, tt.route)
			}
		})
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("acme-token", goodClaims(nil))
	// globex's server does not know acme's tokens (the fake answers
	// inactive for tokens it has no answer for on any path, so check the path).
	a := h.check(t, req{host: "api.globex.example", path: "/x", auth: "Bearer unknown-at-globex"})
	if a.allow || a.reason != "inactive" {
		t.Fatalf("globex: %d %s", a.status, a.reason)
	}
	if a.challenge != `Bearer realm="globex", error="invalid_token", error_description="the token is not active"` {
		t.Errorf("challenge = %q", a.challenge)
	}
}

func TestConcurrencyLimitWaitedOut(t *testing.T) {
	h, as := startWithAS(t)
	release := make(chan struct{})
	block := func(w http.ResponseWriter, _ *http.Request) { <-release; w.Write([]byte(`{"active":false}`)) }
	as.Handle("blocking-1", block)
	as.Handle("blocking-2", block)
	defer close(release)
	// Fill both slots of acme (max_concurrent_introspections: 2) with two
	// different tokens (one token would be coalesced into one call).
	for _, token := range []string{"blocking-1", "blocking-2"} {
		go h.client.Check(context.Background(), orders(token).proto())
	}
	testsupport.Poll(2*time.Second, func() bool { return as.InFlight() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp, err := h.client.Check(ctx, orders("third").proto())
	if err != nil {
		// The gRPC deadline of the check itself may fire first; both outcomes
		// keep the third call away from the authorization server.
		if as.Calls("third") != 0 {
			t.Fatal("a call beyond the limit reached the authorization server")
		}
		return
	}
	if code := resp.GetDeniedResponse().GetStatus().GetCode(); int(code) != 503 || resp.GetStatus().GetMessage() != "introspection_error" {
		t.Fatalf("beyond the limit: %v %q", code, resp.GetStatus().GetMessage())
	}
	if got := as.PeakInFlight(); got > 2 {
		t.Errorf("peak concurrency at the server = %d, limit 2", got)
	}
}

// TestSlotWaitFollowsTheCheckDeadline is the contract's "a check waits for
// a concurrency slot until its own deadline": one slot, a 1 s tenant
// timeout, a server answering in 400 ms and six distinct tokens under a
// 15 s gRPC deadline. Bounded by the tenant timeout instead, four of them
// would get 503.
func TestSlotWaitFollowsTheCheckDeadline(t *testing.T) {
	as := introspectiontest.New(t)
	cfg := strings.Replace(testConfig(as.URL), "max_concurrent_introspections: 2", "max_concurrent_introspections: 1", 1)
	h := startHarness(t, cfg)
	const n = 6
	as.SetDelay(400 * time.Millisecond)
	for i := range n {
		as.Claims(fmt.Sprintf("slow-%d", i), goodClaims(nil))
	}
	var wg sync.WaitGroup
	reasons := make([]string, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if resp, err := h.client.Check(ctx, orders(fmt.Sprintf("slow-%d", i)).proto()); err != nil {
				reasons[i] = err.Error()
			} else {
				reasons[i] = resp.GetStatus().GetMessage()
			}
		})
	}
	wg.Wait()
	if want := slices.Repeat([]string{"allowed"}, n); !slices.Equal(reasons, want) {
		t.Errorf("reasons %q, want %q", reasons, want)
	}
	if got := as.PeakInFlight(); got > 1 {
		t.Errorf("peak concurrency at the server = %d, limit 1", got)
	}
}

func TestUnreachableAuthorizationServer(t *testing.T) {
	as := introspectiontest.New(t)
	url := as.URL
	as.Close()
	h := startHarness(t, testConfig(url))
	a := h.check(t, orders("good"))
	if a.status != 503 || a.reason != "introspection_error" || a.challenge != "" {
		t.Fatalf("unreachable: %d %s %q", a.status, a.reason, a.challenge)
	}
	if !strings.Contains(h.logs.String(), `"msg":"introspection failed"`) || !strings.Contains(h.logs.String(), `"tenant":"acme"`) {
		t.Errorf("no warn line naming the tenant: %s", h.logs.String())
	}
}

func TestDenyLogsTokenIDNeverToken(t *testing.T) {
	h, _ := startWithAS(t)
	secretToken := "tok-1234567890-very-secret"
	h.check(t, req{path: "/orders", auth: "Bearer " + secretToken})
	logs := h.logs.String()
	if strings.Contains(logs, secretToken) {
		t.Fatal("token appears in the logs")
	}
	if !strings.Contains(logs, `"token_id":"`) || !strings.Contains(logs, `"reason":"inactive"`) {
		t.Errorf("deny line lacks token_id or reason: %s", logs)
	}
}

func checkRequest(r req) check.Request { return grpcauthz.Request(r.proto()) }
