package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
	"github.com/tokengate/tokengate/testsupport"
)

// edgesConfig has a wildcard route with any_scopes before a plain one, on
// a tenant that strips Authorization (and DPoP) from allowed requests.
func edgesConfig(asURL string) string {
	return fmt.Sprintf(`tenants:
  - name: acme
    issuer: "https://idp.acme.example"
    introspection:
      url: "%s/oauth2/introspect"
      client_id: %q
      client_secret: "${E2E_ACME_SECRET}"
    audiences: ["api://orders"]
    strip_authorization: true
    claims_header: x-auth-claims
    claims_to_headers:
      sub: x-auth-subject
      level: x-auth-level
      big: x-auth-big
      ratio: x-auth-ratio
      groups: x-auth-groups
      profile: x-auth-profile
      admin: x-auth-admin
      note: x-auth-note
      gone: x-auth-gone
routes:
  - name: health
    path_prefix: "/healthz"
    public: true
  - name: reports
    tenant: acme
    hosts: ["*.acme.example"]
    path_prefix: "/reports"
    any_scopes: ["reports.read", "reports.admin"]
  - name: orders
    tenant: acme
    hosts: ["orders.acme.example"]
    path_prefix: "/orders"
    scopes: ["orders.read"]
`, asURL, acmeClientID)
}

// TestContractEdges walks corners of the contract's "Details that decide
// edge cases" through the binary: wildcard hosts (port and case ignored,
// :authority then host when the attribute is empty), any_scopes and its
// challenge, strip_authorization, nbf, token_type and iss edge values,
// scope over scp, path prefixes as plain prefixes, header keys differing
// only in case, and an empty route extension.
func TestContractEdges(t *testing.T) {
	t.Parallel()
	as := newAS(t)
	p := startServe(t, writeFile(t, t.TempDir(), "tokengate.yaml", edgesConfig(as.URL)), serveOpts{env: acmeEnv})
	reports := func(extra map[string]any) map[string]any {
		return goodClaims(testsupport.Edit(map[string]any{"scope": "reports.read"}, extra))
	}
	as.Claims("rep", reports(nil))
	as.Claims("admin", reports(map[string]any{"scope": "reports.admin"}))
	as.Claims("orders-only", goodClaims(nil))
	as.Claims("future", reports(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))
	as.Claims("no-type", reports(map[string]any{"token_type": nil}))
	as.Claims("empty-type", reports(map[string]any{"token_type": ""}))
	as.Claims("empty-iss", reports(map[string]any{"iss": ""}))
	as.Claims("scope-and-scp", reports(map[string]any{"scope": "profile", "scp": []string{"reports.read"}}))
	as.Claims("scp-only", goodClaims(map[string]any{"scope": nil, "scp": []string{"reports.admin"}}))

	const scopeChallenge = `Bearer realm="acme", error="insufficient_scope", error_description="the token lacks a required scope", scope="reports.read reports.admin"`
	for _, tt := range []struct {
		name      string
		r         req
		status    int    // 200: allow
		route     string // the allow's route ("": not checked)
		challenge string // exact WWW-Authenticate of a deny ("": not checked)
	}{
		{"wildcard host", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("rep")}, 200, "reports", ""},
		{"wildcard, port and case ignored", req{host: "EU.Acme.Example:8443", path: "/reports/1", auth: bearer("rep")}, 200, "reports", ""},
		{"wildcard does not match the apex", req{host: "acme.example", path: "/reports/1", auth: bearer("rep")}, 403, "", ""},
		{"wildcard does not match a lookalike", req{host: "evilacme.example", path: "/reports/1", auth: bearer("rep")}, 403, "", ""},
		{"the other any_scopes scope", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("admin")}, 200, "reports", ""},
		{"no any_scopes scope", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("orders-only")}, 403, "", scopeChallenge},
		{"path prefix is a plain prefix", req{host: "orders.acme.example", path: "/ordersx", auth: bearer("orders-only")}, 200, "orders", ""},
		{"nbf in the future", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("future")}, 401, "", ""},
		{"absent token_type", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("no-type")}, 200, "reports", ""},
		{"empty token_type", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("empty-type")}, 401, "", ""},
		{"empty iss", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("empty-iss")}, 401, "", ""},
		{"scope wins over scp", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("scope-and-scp")}, 403, "", scopeChallenge},
		{"scp alone", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("scp-only")}, 200, "reports", ""},
		{"authorization under two spellings", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("rep"),
			headers: map[string]string{"Authorization": bearer("rep")}}, 400, "", `Bearer realm="acme", error="invalid_request", error_description="the bearer token is malformed"`},
		{"empty route extension is absent", req{host: "eu.acme.example", path: "/reports/1", auth: bearer("rep"), ext: map[string]string{"route": ""}}, 200, "reports", ""},
		{"route extension picks the route", req{host: "elsewhere.example", path: "/x", auth: bearer("orders-only"), ext: map[string]string{"route": "orders"}}, 200, "orders", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := p.check(t, tt.r)
			if a.status != tt.status {
				t.Fatalf("status %d (%v, %q), want %d", a.status, a.body, a.challenge, tt.status)
			}
			if tt.route != "" && a.meta["route"] != tt.route {
				t.Errorf("route %q, want %q", a.meta["route"], tt.route)
			}
			if tt.challenge != "" && a.challenge != tt.challenge {
				t.Errorf("challenge %q, want %q", a.challenge, tt.challenge)
			}
			if tt.status == 200 && a.meta["tenant"] != "acme" {
				t.Errorf("metadata tenant %q, want acme", a.meta["tenant"])
			}
			if tt.status == 200 && !(slices.Contains(a.remove, "authorization") && slices.Contains(a.remove, "dpop")) {
				t.Errorf("strip_authorization: headers_to_remove %v lacks authorization and dpop", a.remove)
			}
		})
	}
	if a := p.check(t, req{host: "eu.acme.example", path: "/reports/1", auth: bearer("future")}); !strings.Contains(a.meta["reason"], "not_yet_valid") {
		t.Errorf("nbf in the future: reason %q, want not_yet_valid", a.meta["reason"])
	}

	// Claim values in headers: numbers in decimal without exponent
	// (integral floats as integers), booleans, arrays joined with ",",
	// objects as compact JSON; null and control bytes: removed. All the
	// claims go base64url (no padding) in claims_header.
	typed := reports(map[string]any{"level": 3.0, "big": 1e21, "ratio": 0.25, "groups": []any{"a", 2, true},
		"profile": map[string]any{"k": "v"}, "admin": false, "note": "a\x01b", "gone": nil})
	as.Claims("typed", typed)
	a := p.check(t, req{host: "eu.acme.example", path: "/reports/1", auth: bearer("typed")})
	if !a.allow {
		t.Fatalf("typed claims: %d %v", a.status, a.body)
	}
	for h, want := range map[string]string{"x-auth-level": "3", "x-auth-big": "1000000000000000000000", "x-auth-ratio": "0.25",
		"x-auth-groups": "a,2,true", "x-auth-profile": `{"k":"v"}`, "x-auth-admin": "false"} {
		if a.set[h] != want {
			t.Errorf("%s = %q, want %q", h, a.set[h], want)
		}
	}
	for _, h := range []string{"x-auth-note", "x-auth-gone"} {
		if _, set := a.set[h]; set || !slices.Contains(a.remove, h) {
			t.Errorf("%s: set %q, removed %v; want removed", h, a.set[h], slices.Contains(a.remove, h))
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(a.set["x-auth-claims"])
	var all map[string]any
	if err != nil || json.Unmarshal(raw, &all) != nil || all["sub"] != "user-1" || all["level"] != 3.0 {
		t.Errorf("claims_header %q: %s, %v", a.set["x-auth-claims"], raw, err)
	}

	// A public allow's dynamic metadata names the route, nothing else.
	// Its claim headers, claims_header too, are removed.
	if a := p.check(t, req{host: "any.example", path: "/healthz"}); !a.allow || len(a.meta) != 1 || a.meta["route"] != "health" ||
		len(a.set) != 0 || !slices.Contains(a.remove, "x-auth-claims") {
		t.Errorf("public route: allow %v, metadata %v, set %v, removed %v", a.allow, a.meta, a.set, a.remove)
	}

	// Without a host attribute the host comes from :authority, then from
	// the host header.
	for _, tt := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{":authority", map[string]string{":authority": "eu.acme.example:443", "host": "nowhere.example"}, 200},
		{"host header", map[string]string{"host": "eu.acme.example"}, 200},
		{"neither", map[string]string{}, 403},
	} {
		t.Run("host from "+tt.name, func(t *testing.T) {
			headers := map[string]string{"authorization": bearer("rep")}
			for k, v := range tt.headers {
				headers[k] = v
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			resp, err := authv3.NewAuthorizationClient(p.grpcConn(t)).Check(ctx,
				grpcauthztest.Request{Method: "GET", Path: "/reports/1", Headers: headers}.Proto())
			if err != nil {
				t.Fatal(err)
			}
			if a := parseAnswer(t, resp); a.status != tt.status {
				t.Errorf("status %d (%v), want %d", a.status, a.body, tt.status)
			}
		})
	}
}
