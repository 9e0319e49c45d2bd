package grpcauthz

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
)

// cachedClaims answers every token with the claims it holds, the same
// *Claims each time, as the token cache does for a cached token.
type cachedClaims struct {
	c atomic.Pointer[introspection.Claims]
}

func (f *cachedClaims) Introspect(context.Context, string) (introspection.Result, error) {
	return introspection.Result{Claims: f.c.Load(), Cache: introspection.CacheHit}, nil
}

func allowSnapshot(as introspection.Introspector) *check.Snapshot {
	tenant := &check.Tenant{Name: "acme", Introspector: as,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}}})}
	return check.NewSnapshot([]check.Route{
		{Rule: routing.Rule{Name: "api", PathPrefix: "/"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}},
	})
}

func claimsOf(sub string) *introspection.Claims {
	return &introspection.Claims{Active: true, Subject: sub, Raw: map[string]json.RawMessage{"sub": json.RawMessage(`"` + sub + `"`)}}
}

// An allow is rendered once per claims object and route, then shared; other
// claims, a reload and a deny each get a response of their own.
func TestAllowResponsesAreCachedPerClaimsAndRoute(t *testing.T) {
	as := &cachedClaims{}
	as.c.Store(claimsOf("u1"))
	checker := check.New(allowSnapshot(as), check.Options{Logger: slog.New(slog.DiscardHandler)})
	s := New(checker, Options{})
	req := httpReq(&authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
		Headers: map[string]string{"authorization": "Bearer tok"}}, nil)
	allow := func() *authv3.CheckResponse {
		t.Helper()
		resp, err := s.Check(context.Background(), req)
		if err != nil || resp.GetStatus().GetCode() != 0 {
			t.Fatalf("not an allow: %v %v", resp, err)
		}
		return resp
	}
	first := allow()
	if again := allow(); again != first {
		t.Fatal("the same claims and route rendered the allow again")
	}
	var decoded authv3.CheckResponse // the cached form carries the same fields
	wire, _ := proto.Marshal(first)
	if err := proto.Unmarshal(wire, &decoded); err != nil {
		t.Fatal(err)
	}
	h := decoded.GetOkResponse().GetHeaders()
	if len(h) != 1 || h[0].GetHeader().GetKey() != "x-sub" || h[0].GetHeader().GetValue() != "u1" {
		t.Fatalf("headers = %v", h)
	}

	as.c.Store(claimsOf("u2")) // the token cache's answer changed
	if other := allow(); other == first {
		t.Fatal("other claims got the cached response")
	}

	old := s.allows.Load()
	checker.Swap(allowSnapshot(as)) // a reload
	afterReload := allow()
	if s.allows.Load() == old || s.allows.Load().snap != checker.Snapshot() {
		t.Fatal("a reload did not start a cache for the new snapshot")
	}
	if allow() != afterReload {
		t.Fatal("not cached after the reload")
	}

	deny := httpReq(&authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example"}, nil)
	d1, _ := s.Check(context.Background(), deny)
	d2, _ := s.Check(context.Background(), deny)
	if d1.GetStatus().GetCode() == 0 || d1 == d2 {
		t.Fatal("denies are rendered per check")
	}
}
