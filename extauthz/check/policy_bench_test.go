package check

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/policy"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// benchPolicy checks GET /orgs/org_1/items for a cached token on a route
// with the given conditions (none: the baseline).
func benchPolicy(b *testing.B, cs *policy.Conditions) {
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"scope":"read","sub":"u1","org_id":"org_1","roles":["admin"]}`))
	if err != nil {
		b.Fatal(err)
	}
	f := introspectiontest.NewIntrospector()
	f.Answer("good", introspection.Result{Claims: claims, Cache: introspection.CacheHit})
	tenant := &Tenant{Name: "acme", Introspector: f,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}}})}
	snap := NewSnapshot([]Route{{Rule: routing.Rule{Name: "orgs", PathPrefix: "/orgs/"}, Tenant: tenant,
		Policy: decision.Policy{Realm: "acme", Scopes: []string{"read"}}, Conditions: cs}})
	c := New(snap, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	r := Request{Method: "GET", Host: "api.acme.example", Path: "/orgs/org_1/items", Authorization: "Bearer good"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := c.Check(ctx, &r); !out.Decision.Allow {
			b.Fatal(out.Decision.Reason)
		}
	}
}

// BenchmarkCheckCachedNoConditions is the baseline of
// BenchmarkCheckCachedTwoConditions.
func BenchmarkCheckCachedNoConditions(b *testing.B) { benchPolicy(b, nil) }

// BenchmarkCheckCachedTwoConditions: the WorkOS org_id rule and a role
// rule (the claims converted to CEL once, while the token is cached).
func BenchmarkCheckCachedTwoConditions(b *testing.B) {
	pc, err := policy.NewCompiler()
	if err != nil {
		b.Fatal(err)
	}
	cs, errs := pc.Compile([]string{`claims.org_id == request.segments[1]`, `"admin" in claims.roles`})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	benchPolicy(b, cs)
}
