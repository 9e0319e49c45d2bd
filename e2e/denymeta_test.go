package e2e

import (
	"maps"
	"testing"
)

// TestDenyDynamicMetadata: a gRPC deny carries Envoy dynamic metadata with
// tenant, route and reason, plus sub and client_id once the claims are
// known, so that access logs and rate limits see why a request was refused.
func TestDenyDynamicMetadata(t *testing.T) {
	t.Parallel()
	p, claims := servePolicy(t)
	claims("org-1", map[string]any{"org_id": "org_1"})
	for _, tc := range []struct {
		name string
		req  req
		want map[string]string
	}{
		{"policy deny on the claims", req{host: "orgs.acme.example", path: "/orgs/org_2/x", auth: bearer("org-1")},
			map[string]string{"tenant": "acme", "route": "orgs", "reason": "policy", "sub": "user-1", "client_id": "app-1"}},
		{"no token", req{host: "orgs.acme.example", path: "/orgs/org_1/x"},
			map[string]string{"tenant": "acme", "route": "orgs", "reason": "missing_token"}},
		{"no route", req{host: "nowhere.example", path: "/x", auth: bearer("org-1")},
			map[string]string{"reason": "no_route"}},
	} {
		a := p.check(t, tc.req)
		if a.allow {
			t.Errorf("%s: allowed", tc.name)
			continue
		}
		if !maps.Equal(a.meta, tc.want) {
			t.Errorf("%s: dynamic metadata %v, want %v", tc.name, a.meta, tc.want)
		}
	}
}
