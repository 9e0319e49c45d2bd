package grpcauthz

import (
	"maps"
	"testing"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/introspection"
)

// TestDenyMetadata: a deny carries tenant, route and reason, plus sub and
// client_id when it was decided on the claims; empty values are left out.
func TestDenyMetadata(t *testing.T) {
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u1","client_id":"app","scope":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	noClient, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u2"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		out  check.Outcome
		want map[string]string
	}{
		{"no route", check.Outcome{Decision: decision.DenyNoRoute()},
			map[string]string{"reason": "no_route"}},
		{"missing token", check.Outcome{Decision: decision.DenyMissingToken(&decision.Policy{Realm: "acme"}), Tenant: "acme", Route: "orders"},
			map[string]string{"tenant": "acme", "route": "orders", "reason": "missing_token"}},
		{"policy, claims known", check.Outcome{Decision: decision.DenyPolicy(), Tenant: "acme", Route: "orgs", Claims: claims},
			map[string]string{"tenant": "acme", "route": "orgs", "reason": "policy", "sub": "u1", "client_id": "app"}},
		{"no client_id", check.Outcome{Decision: decision.DenyPolicy(), Tenant: "acme", Route: "orgs", Claims: noClient},
			map[string]string{"tenant": "acme", "route": "orgs", "reason": "policy", "sub": "u2"}},
		{"introspection error", check.Outcome{Decision: decision.DenyIntrospectionError(), Tenant: "acme", Route: "orders"},
			map[string]string{"tenant": "acme", "route": "orders", "reason": "introspection_error"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := Response(&tt.out)
			if resp.GetDeniedResponse() == nil {
				t.Fatalf("not a deny: %v", resp)
			}
			got := map[string]string{}
			for k, v := range resp.GetDynamicMetadata().GetFields() {
				got[k] = v.GetStringValue()
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("metadata %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDenyMetadataNeverScope: the scope (on allows) is not a deny's.
func TestDenyMetadataNeverScope(t *testing.T) {
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u1","scope":"a b"}`))
	if err != nil {
		t.Fatal(err)
	}
	out := check.Outcome{Decision: decision.Decision{Reason: decision.InsufficientScope, Status: 403, Realm: "acme",
		Error: "insufficient_scope", Scope: "c"}, Tenant: "acme", Route: "r", Claims: claims}
	if _, has := Response(&out).GetDynamicMetadata().GetFields()["scope"]; has {
		t.Error("a deny's metadata has scope")
	}
}

func BenchmarkResponseDeny(b *testing.B) {
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u1","client_id":"app"}`))
	if err != nil {
		b.Fatal(err)
	}
	out := check.Outcome{Decision: decision.DenyPolicy(), Tenant: "acme", Route: "orgs", Claims: claims}
	b.ReportAllocs()
	for b.Loop() {
		_ = Response(&out)
	}
}
