package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// policyRoutes are route-policy routes appended to the suite's standard
// routes: a step-up route, a CEL route (the WorkOS org_id rule) and the
// same rule in shadow mode.
const policyRoutes = `  - name: payments
    tenant: acme
    hosts: ["pay.acme.example"]
    scopes: ["orders.read"]
    acr_values: ["urn:acme:mfa", "phr"]
    max_age: 5m
  - name: orgs
    tenant: acme
    hosts: ["orgs.acme.example"]
    path_prefix: "/orgs/"
    when:
      - claims.org_id == request.segments[1]
      - request.method in ["GET", "HEAD"] || "admin" in claims.roles
  - name: env
    tenant: acme
    hosts: ["env.acme.example"]
    when: ['!("x-env" in request.headers) || request.headers["x-env"] != "test"']
  - name: orgs-shadow
    tenant: acme
    hosts: ["shadow.acme.example"]
    path_prefix: "/orgs/"
    when: ["claims.org_id == request.segments[1]"]
    enforce: false
`

func servePolicy(t *testing.T) (*proc, func(token string, claims map[string]any)) {
	t.Helper()
	as := newAS(t)
	path := writeFile(t, t.TempDir(), "tokengate.yaml", cfg{as: as.URL}.String()+policyRoutes)
	p := startServe(t, path, serveOpts{env: acmeEnv})
	return p, func(token string, extra map[string]any) { as.Claims(token, goodClaims(extra)) }
}

// TestStepUp: a token without the route's acr, or with an old auth_time,
// gets the RFC 9470 challenge a client library can act on.
func TestStepUp(t *testing.T) {
	t.Parallel()
	p, claims := servePolicy(t)
	now := time.Now()
	claims("mfa-fresh", map[string]any{"acr": "urn:acme:mfa", "auth_time": now.Add(-time.Minute).Unix()})
	claims("pwd", map[string]any{"acr": "urn:acme:pwd", "auth_time": now.Unix()})
	claims("mfa-old", map[string]any{"acr": "phr", "auth_time": now.Add(-time.Hour).Unix()})
	claims("no-acr", nil)

	if a := p.check(t, req{host: "pay.acme.example", path: "/pay", auth: bearer("mfa-fresh")}); !a.allow {
		t.Fatalf("fresh MFA: %d %s", a.status, a.challenge)
	}
	for token, desc := range map[string]string{
		"pwd":     "a stronger authentication is required",
		"no-acr":  "a stronger authentication is required",
		"mfa-old": "a more recent authentication is required",
	} {
		a := p.check(t, req{host: "pay.acme.example", path: "/pay", auth: bearer(token)})
		want := `Bearer realm="acme", error="insufficient_user_authentication", error_description="` + desc + `", acr_values="urn:acme:mfa phr", max_age="300"`
		if a.allow || a.status != 401 || a.challenge != want || a.body["error"] != "insufficient_user_authentication" {
			t.Errorf("%s: %d %q %v, want 401 %q", token, a.status, a.challenge, a.body, want)
		}
	}
	if v := p.metric(t, "tokengate_decisions_total", map[string]string{"route": "payments", "decision": "deny", "reason": "insufficient_user_authentication"}); v != 3 {
		t.Errorf("decisions_total{insufficient_user_authentication} = %v, want 3", v)
	}
}

// TestWhenConditions: CEL conditions allow and deny (403 policy, no
// challenge).
func TestWhenConditions(t *testing.T) {
	t.Parallel()
	p, claims := servePolicy(t)
	claims("org-1", map[string]any{"org_id": "org_1", "roles": []string{"member"}})
	claims("org-1-admin", map[string]any{"org_id": "org_1", "roles": []string{"admin"}})
	claims("no-org", nil)
	for _, tc := range []struct {
		name, method, path, token string
		allow                     bool
	}{
		{"own org", "GET", "/orgs/org_1/projects", "org-1", true},
		{"own org, normalized path", "GET", "/orgs//%6Frg_1/projects?x=1", "org-1", true},
		{"other org", "GET", "/orgs/org_2/projects", "org-1", false},
		{"write without admin", "POST", "/orgs/org_1/projects", "org-1", false},
		{"write as admin", "POST", "/orgs/org_1/projects", "org-1-admin", true},
		{"claim absent: fails closed", "GET", "/orgs/org_1/projects", "no-org", false},
	} {
		a := p.check(t, req{method: tc.method, host: "orgs.acme.example", path: tc.path, auth: bearer(tc.token)})
		if a.allow != tc.allow {
			t.Errorf("%s: allow %v, want %v", tc.name, a.allow, tc.allow)
			continue
		}
		if !tc.allow && (a.status != 403 || a.challenge != "" || a.body["error"] != "access_denied") {
			t.Errorf("%s: %d %q %v, want 403 access_denied without a challenge", tc.name, a.status, a.challenge, a.body)
		}
		if tc.allow && a.set["x-auth-subject"] != "user-1" {
			t.Errorf("%s: headers %v", tc.name, a.set)
		}
	}
	if v := p.metric(t, "tokengate_decisions_total", map[string]string{"route": "orgs", "decision": "deny", "reason": "policy"}); v != 3 {
		t.Errorf("decisions_total{policy} = %v, want 3", v)
	}
}

// TestWhenRequestHeaders: a condition on a request header reads it
// whether Envoy sent it in the headers map or, with encode_raw_headers, in
// header_map.
func TestWhenRequestHeaders(t *testing.T) {
	t.Parallel()
	p, claims := servePolicy(t)
	claims("good", nil)
	for _, raw := range []bool{false, true} {
		for env, allow := range map[string]bool{"": true, "prod": true, "test": false} {
			r := req{host: "env.acme.example", path: "/x", auth: bearer("good"), raw: raw}
			if env != "" {
				r.headers = map[string]string{"x-env": env}
			}
			if a := p.check(t, r); a.allow != allow || (!allow && a.status != 403) {
				t.Errorf("header_map %v, x-env %q: allow %v (%d), want %v", raw, env, a.allow, a.status, allow)
			}
		}
	}
}

// TestShadowMode: a would-be deny is allowed, counted and logged.
func TestShadowMode(t *testing.T) {
	t.Parallel()
	p, claims := servePolicy(t)
	claims("org-1", map[string]any{"org_id": "org_1"})
	mark := p.mark()
	a := p.check(t, req{host: "shadow.acme.example", path: "/orgs/org_2/x", auth: bearer("org-1"),
		headers: map[string]string{"x-auth-username": "smuggled"}})
	if !a.allow || a.set["x-auth-subject"] != "user-1" || !slices.Contains(a.remove, "x-auth-username") {
		t.Fatalf("shadow deny: allow %v, set %v, remove %v", a.allow, a.set, a.remove)
	}
	if a.resp.GetStatus().GetMessage() != "shadow" {
		t.Errorf("status message %q, want shadow", a.resp.GetStatus().GetMessage())
	}
	// Without a token: allowed too, every claim header removed.
	a = p.check(t, req{host: "shadow.acme.example", path: "/orgs/org_2/x"})
	if !a.allow || len(a.set) != 0 || !slices.Contains(a.remove, "x-auth-subject") {
		t.Errorf("shadow missing token: allow %v, set %v, remove %v", a.allow, a.set, a.remove)
	}
	// A path no upstream reads the same way is still refused.
	if a = p.check(t, req{host: "shadow.acme.example", path: "/orgs/../admin", auth: bearer("org-1")}); a.allow || a.status != 400 {
		t.Errorf("shadow malformed request: allow %v, status %d", a.allow, a.status)
	}
	if a = p.check(t, req{host: "shadow.acme.example", path: "/orgs/org_1/x", auth: bearer("org-1")}); !a.allow {
		t.Errorf("shadow, condition true: %d", a.status)
	}
	line := p.waitLog(t, 5*time.Second, mark, msgIs("shadow deny"))
	if line.str("tenant") != "acme" || line.str("route") != "orgs-shadow" || line.str("reason") != "policy" || line.str("token_id") != tokenID("org-1") {
		t.Errorf("shadow deny line: %v", line.fields)
	}
	for _, want := range []struct {
		name   string
		labels map[string]string
		n      float64
	}{
		{"tokengate_shadow_denials_total", map[string]string{"tenant": "acme", "route": "orgs-shadow", "reason": "policy"}, 1},
		{"tokengate_shadow_denials_total", map[string]string{"tenant": "acme", "route": "orgs-shadow", "reason": "missing_token"}, 1},
		{"tokengate_decisions_total", map[string]string{"route": "orgs-shadow", "decision": "allow", "reason": "shadow"}, 2},
		{"tokengate_decisions_total", map[string]string{"route": "orgs-shadow", "decision": "allow", "reason": "allowed"}, 1},
	} {
		if v := p.metric(t, want.name, want.labels); v != want.n {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, v, want.n)
		}
	}
}

// TestValidateReportsCEL: validate lists every CEL error with its route.
func TestValidateReportsCEL(t *testing.T) {
	t.Parallel()
	bad := strings.Replace(policyRoutes, `claims.org_id == request.segments[1]
      - request.method`, `claims.org_id == request.segment[1]
      - request.method.size()`, 1)
	bad = strings.Replace(bad, `when: ["claims.org_id == request.segments[1]"]`, `when: ["claims.org_id ="]`, 1)
	path := writeFile(t, t.TempDir(), "tokengate.yaml", cfg{as: "https://idp.acme.example"}.String()+bad)
	_, stderr, code := runCLI(t, acmeEnv, "validate", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		`when[0]: route "orgs": "claims.org_id == request.segment[1]": column 25: undefined field 'segment'`,
		`when[1]: route "orgs": "request.method.size() in [\"GET\", \"HEAD\"] || \"admin\" in claims.roles": column 23: found no matching overload`,
		`when[0]: route "orgs-shadow": "claims.org_id =": column`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
