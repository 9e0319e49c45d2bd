package check

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

func newChecker(f introspection.Introspector) *Checker {
	tenant := &Tenant{Name: "acme", Introspector: f,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}}})}
	snap := NewSnapshot([]Route{
		{Rule: routing.Rule{Name: "pub", PathPrefix: "/public"}, Public: true},
		{Rule: routing.Rule{Name: "api", PathPrefix: "/api"}, Tenant: tenant,
			Policy: decision.Policy{Realm: "acme", Scopes: []string{"read"}}},
		{Rule: routing.Rule{Name: "broken", PathPrefix: "/broken"}}, // no tenant, not public
	})
	return New(snap, Options{
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Unix(1_800_000_000, 0) },
	})
}

// answering is an introspector that answers each token of claims with
// its claims (JSON), the cache status cache.
func answering(tb testing.TB, cache introspection.CacheStatus, claims map[string]string) *introspectiontest.Introspector {
	tb.Helper()
	f := introspectiontest.NewIntrospector()
	for tok, body := range claims {
		c, err := introspection.ParseClaims([]byte(body))
		if err != nil {
			tb.Fatal(err)
		}
		f.Answer(tok, introspection.Result{Claims: c, Cache: cache})
	}
	return f
}

func TestCheckFlow(t *testing.T) {
	f := answering(t, introspection.CacheMiss, map[string]string{"good": `{"active":true,"scope":"read","sub":"u1","client_id":"c"}`})
	c := newChecker(f)
	tests := []struct {
		name   string
		req    Request
		reason decision.Reason
		calls  int64
	}{
		{"allow", Request{Path: "/api/x", Authorization: "Bearer good"}, decision.Allowed, 1},
		{"inactive", Request{Path: "/api/x", Authorization: "Bearer other"}, decision.Inactive, 1},
		{"public", Request{Path: "/public"}, decision.Public, 0},
		{"missing", Request{Path: "/api"}, decision.MissingToken, 0},
		{"malformed", Request{Path: "/api", Authorization: "Bearer a b"}, decision.MalformedToken, 0},
		{"bad path", Request{Path: "/api/../x", Authorization: "Bearer good"}, decision.MalformedRequest, 0},
		{"no route", Request{Path: "/nope", Authorization: "Bearer good"}, decision.NoRoute, 0},
		{"named route", Request{Path: "/whatever", RouteName: "api", Authorization: "Bearer good"}, decision.Allowed, 1},
		{"route without tenant fails closed", Request{Path: "/broken", Authorization: "Bearer good"}, decision.NoRoute, 0},
		{"duplicated request header", Request{Path: "/public", Duplicated: true}, decision.MalformedRequest, 0},
		{"duplicated request header beats a named route", Request{Path: "/x", RouteName: "pub", Duplicated: true}, decision.MalformedRequest, 0},
		{"duplicate authorization", Request{Path: "/api", Authorization: "Bearer good", DuplicateAuthorization: true}, decision.MalformedToken, 0},
		{"duplicate authorization, empty", Request{Path: "/api", DuplicateAuthorization: true}, decision.MalformedToken, 0},
		{"duplicate authorization on a public route", Request{Path: "/public", Authorization: "Bearer good", DuplicateAuthorization: true}, decision.Public, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Total()
			out := c.Check(context.Background(), &tt.req)
			if out.Decision.Reason != tt.reason {
				t.Fatalf("reason = %q, want %q", out.Decision.Reason, tt.reason)
			}
			if got := f.Total() - before; got != tt.calls {
				t.Errorf("introspections = %d, want %d", got, tt.calls)
			}
			if tt.calls > 0 && !out.Decision.Allow && out.TokenID == "" {
				t.Error("no token_id on a deny of a well-formed token")
			}
		})
	}
	out := c.Check(context.Background(), &Request{Path: "/api", Authorization: "Bearer good"})
	if out.Cache != introspection.CacheMiss || out.Metadata.Subject != "u1" || out.Metadata.ClientID != "c" {
		t.Errorf("outcome = %+v", out)
	}
}

func TestIntrospectionErrorAndNilClaimsFailClosed(t *testing.T) {
	f := introspectiontest.NewIntrospector()
	f.Fail("x", errors.New("boom"))
	c := newChecker(f)
	if out := c.Check(context.Background(), &Request{Path: "/api", Authorization: "Bearer x"}); out.Decision.Reason != decision.IntrospectionError {
		t.Fatalf("reason = %q", out.Decision.Reason)
	}
	none := introspectiontest.NewIntrospector()
	none.Answer("x", introspection.Result{}) // no claims, no error
	nilClaims := NewSnapshot([]Route{{Rule: routing.Rule{Name: "api"}, Tenant: &Tenant{Name: "t",
		Introspector: none, Headers: claimheaders.New(claimheaders.Options{})}}})
	c.Swap(nilClaims)
	if out := c.Check(context.Background(), &Request{Path: "/", Authorization: "Bearer x"}); out.Decision.Allow {
		t.Fatal("nil claims allowed")
	}
}

func TestSwapKeepsInFlightSnapshot(t *testing.T) {
	c := newChecker(introspectiontest.NewIntrospector())
	old := c.Snapshot()
	next := NewSnapshot(nil)
	if got := c.Swap(next); got != old {
		t.Fatal("Swap did not return the previous snapshot")
	}
	if out := c.Check(context.Background(), &Request{Path: "/public"}); out.Decision.Reason != decision.NoRoute {
		t.Fatalf("new snapshot not used: %q", out.Decision.Reason)
	}
}

func TestEarlyDeniesLogTheTokenID(t *testing.T) {
	c := newChecker(introspectiontest.NewIntrospector())
	for _, r := range []Request{
		{Path: "/api/../x", Authorization: "Bearer good"},
		{Path: "/nope", Authorization: "Bearer good"},
	} {
		if out := c.Check(context.Background(), &r); out.TokenID == "" || out.Decision.Allow {
			t.Errorf("%s: token_id %q", r.Path, out.TokenID)
		}
	}
	if out := c.Check(context.Background(), &Request{Path: "/nope", Authorization: "Bearer a b"}); out.TokenID != "" {
		t.Error("a malformed token got a token_id")
	}
}

func TestLoggedRequestFields(t *testing.T) {
	if got := pathOnly("/a/b?token=secret#frag"); got != "/a/b" {
		t.Errorf("pathOnly = %q", got)
	}
	long := "/" + strings.Repeat("é", 300)
	got := clip(long)
	if len(got) > logFieldMax+len("…") || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("clip(%d bytes) = %d bytes, valid %v", len(long), len(got), utf8.ValidString(got))
	}
	if clip("/short") != "/short" {
		t.Error("clip changed a short value")
	}
}
