package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// policyReloadRoute is a CEL route whose `when` the reload test rewrites.
func policyReloadRoute(when string) string {
	return `  - name: orgs
    tenant: acme
    hosts: ["orgs.acme.example"]
    path_prefix: "/orgs/"
    when: [` + when + `]
`
}

// TestReloadInvalidWhenKeepsOldPolicy: a reload whose `when` does not
// compile fails (logged with the route and the expression's error, counted
// result=failure) and the old expression stays in force; a valid one then
// takes effect.
func TestReloadInvalidWhenKeepsOldPolicy(t *testing.T) {
	t.Parallel()
	as := newAS(t)
	as.Claims("org-1", goodClaims(map[string]any{"org_id": "org_1"}))
	as.Claims("org-2-admin", goodClaims(map[string]any{"org_id": "org_2", "roles": []string{"admin"}}))
	base := cfg{as: as.URL}.String()
	path := writeFile(t, t.TempDir(), "tokengate.yaml", base+policyReloadRoute(`"claims.org_id == request.segments[1]"`))
	p := startServe(t, path, serveOpts{env: acmeEnv})
	allowed := func(token, orgPath string) bool {
		t.Helper()
		a := p.check(t, req{host: "orgs.acme.example", path: orgPath, auth: bearer(token)})
		if !a.allow && (a.status != 403 || a.meta["reason"] != "policy") {
			t.Fatalf("%s %s: %d %v, want an allow or a 403 policy deny", token, orgPath, a.status, a.meta)
		}
		return a.allow
	}
	oldPolicy := func(when string) {
		t.Helper()
		if !allowed("org-1", "/orgs/org_1/x") || allowed("org-1", "/orgs/org_2/x") || allowed("org-2-admin", "/orgs/org_1/x") {
			t.Fatalf("%s: the org_id rule is not in force", when)
		}
	}
	oldPolicy("before the reload")

	// A typo (segment for segments) only CEL's type-checker sees.
	mark := p.mark()
	replaceFile(t, path, base+policyReloadRoute(`"claims.org_id == request.segment[1]"`))
	p.signal(t, syscall.SIGHUP)
	line := p.waitLog(t, 10*time.Second, mark, failedReload)
	for _, want := range []string{"orgs", "when", "segment"} {
		if !strings.Contains(line.raw, want) {
			t.Errorf("the failure does not name %q: %s", want, line.raw)
		}
	}
	testsupport.WaitFor(t, 5*time.Second, "tokengate_config_reloads_total{result=failure} >= 1", func() bool {
		return p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "failure"}) >= 1
	})
	oldPolicy("after the failed reload")

	// A valid expression replaces it.
	mark = p.mark()
	replaceFile(t, path, base+policyReloadRoute(`"'admin' in claims.roles"`))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))
	testsupport.WaitFor(t, 5*time.Second, "the new expression decides", func() bool {
		return allowed("org-2-admin", "/orgs/org_1/x") && !allowed("org-1", "/orgs/org_1/x")
	})
}
