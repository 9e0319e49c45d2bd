package check

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/policy"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
)

type recorder struct{ outs []Outcome }

func (r *recorder) Decided(_ context.Context, out Outcome) { r.outs = append(r.outs, out) }

func mustConditions(tb testing.TB, exprs ...string) *policy.Conditions {
	tb.Helper()
	pc, err := policy.NewCompiler()
	if err != nil {
		tb.Fatal(err)
	}
	cs, errs := pc.Compile(exprs)
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	return cs
}

// policyChecker serves /orgs/ (a condition on the org in the path),
// /pay (step-up), /shadow/ (the same condition, in shadow mode) and
// /boom (a condition that fails to evaluate).
func policyChecker(t *testing.T, logs *bytes.Buffer) (*Checker, *recorder) {
	f := answering(t, introspection.CacheMiss, map[string]string{"good": `{"active":true,"scope":"read","sub":"u1","org_id":"org_1","acr":"pwd","auth_time":1799999000}`})
	tenant := &Tenant{Name: "acme", Introspector: f,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}, {Claim: "email", Header: "x-email"}}})}
	org := mustConditions(t, `claims.org_id == request.segments[1]`, `!("x-env" in request.headers) || request.headers["x-env"] != "test"`)
	p := decision.Policy{Realm: "acme", Scopes: []string{"read"}}
	step := p
	step.StepUp = decision.StepUp{ACRValues: []string{"mfa"}, MaxAge: 10 * time.Minute}
	snap := NewSnapshot([]Route{
		{Rule: routing.Rule{Name: "orgs", PathPrefix: "/orgs/"}, Tenant: tenant, Policy: p, Conditions: org},
		{Rule: routing.Rule{Name: "pay", PathPrefix: "/pay"}, Tenant: tenant, Policy: step},
		{Rule: routing.Rule{Name: "shadow", PathPrefix: "/shadow/"}, Tenant: tenant, Policy: p, Conditions: org, Shadow: true},
		{Rule: routing.Rule{Name: "boom", PathPrefix: "/boom"}, Tenant: tenant, Policy: p, Conditions: mustConditions(t, `claims.nope == "x"`)},
	})
	rec := &recorder{}
	return New(snap, Options{
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      func() time.Time { return time.Unix(1_800_000_000, 0) },
		Observer: rec,
	}), rec
}

func TestRoutePolicyChecks(t *testing.T) {
	var logs bytes.Buffer
	c, _ := policyChecker(t, &logs)
	tests := []struct {
		name      string
		req       Request
		reason    decision.Reason
		shadowed  decision.Reason
		challenge string
	}{
		{name: "condition true", req: Request{Path: "/orgs/org_1/items", Authorization: "Bearer good"}, reason: decision.Allowed},
		{name: "condition false", req: Request{Path: "/orgs/org_2/items", Authorization: "Bearer good"}, reason: decision.PolicyDenied},
		{name: "header condition (gRPC headers)", req: Request{Path: "/orgs/org_1", Authorization: "Bearer good", HeaderMap: map[string]string{"x-env": "test"}}, reason: decision.PolicyDenied},
		{name: "header condition (HTTP headers)", req: Request{Path: "/orgs/org_1", Authorization: "Bearer good", Headers: map[string][]string{"X-Env": {"test"}}}, reason: decision.PolicyDenied},
		{name: "condition on the normalized path", req: Request{Path: "/orgs//%6Frg_1/x?q=1", Authorization: "Bearer good"}, reason: decision.Allowed},
		{name: "conditions after the other checks", req: Request{Path: "/orgs/org_2", Authorization: "Bearer other"}, reason: decision.Inactive,
			challenge: `Bearer realm="acme", error="invalid_token", error_description="the token is not active"`},
		{name: "evaluation error fails closed", req: Request{Path: "/boom", Authorization: "Bearer good"}, reason: decision.PolicyDenied},
		{name: "step-up", req: Request{Path: "/pay", Authorization: "Bearer good"}, reason: decision.InsufficientUserAuthentication,
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="mfa", max_age="600"`},
		{name: "shadow: condition false", req: Request{Path: "/shadow/org_2", Authorization: "Bearer good"}, reason: decision.Shadow, shadowed: decision.PolicyDenied},
		{name: "shadow: condition true", req: Request{Path: "/shadow/org_1", Authorization: "Bearer good"}, reason: decision.Allowed},
		{name: "shadow: missing token", req: Request{Path: "/shadow/org_1"}, reason: decision.Shadow, shadowed: decision.MissingToken},
		{name: "shadow: malformed token", req: Request{Path: "/shadow/org_1", Authorization: "Bearer a b"}, reason: decision.Shadow, shadowed: decision.MalformedToken},
		{name: "shadow: inactive", req: Request{Path: "/shadow/org_1", Authorization: "Bearer other"}, reason: decision.Shadow, shadowed: decision.Inactive},
		{name: "shadow: malformed request is denied", req: Request{Path: "/shadow/../x", Authorization: "Bearer good"}, reason: decision.MalformedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.Check(context.Background(), &tt.req)
			if out.Decision.Reason != tt.reason || out.Shadowed.Reason != tt.shadowed {
				t.Fatalf("reason %q, shadowed %q; want %q, %q", out.Decision.Reason, out.Shadowed.Reason, tt.reason, tt.shadowed)
			}
			if got := out.Decision.Challenge(); got != tt.challenge {
				t.Errorf("challenge %q, want %q", got, tt.challenge)
			}
			if tt.reason == decision.PolicyDenied && (out.Decision.Status != 403 || string(out.Decision.Body()) != `{"error":"access_denied","error_description":"the request does not meet the route's conditions"}`) {
				t.Errorf("policy deny: %+v %s", out.Decision, out.Decision.Body())
			}
		})
	}
}

// TestShadowAllowHeaders: a shadow allow sets the claim headers from the
// claims when known, and removes every claim header otherwise.
func TestShadowAllowHeaders(t *testing.T) {
	var logs bytes.Buffer
	c, rec := policyChecker(t, &logs)
	out := c.Check(context.Background(), &Request{Path: "/shadow/org_2", Authorization: "Bearer good"})
	if !out.Decision.Allow || !reflect.DeepEqual(out.Set, []claimheaders.Header{{Name: "x-sub", Value: "u1"}}) ||
		!reflect.DeepEqual(out.Remove, []string{"x-email"}) || out.Metadata.Subject != "u1" {
		t.Errorf("with claims: %+v", out)
	}
	out = c.Check(context.Background(), &Request{Path: "/shadow/org_2"})
	if !out.Decision.Allow || out.Set != nil || !reflect.DeepEqual(out.Remove, []string{"x-sub", "x-email"}) || out.Metadata.Tenant != "acme" {
		t.Errorf("without claims: %+v", out)
	}
	if len(rec.outs) != 2 || rec.outs[0].Shadowed.Reason != decision.PolicyDenied || rec.outs[1].Shadowed.Reason != decision.MissingToken {
		t.Errorf("observed %+v", rec.outs)
	}
	var shadowLines int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"shadow deny"`) {
			shadowLines++
			for _, f := range []string{`"tenant":"acme"`, `"route":"shadow"`, `"reason":"`, `"status":`} {
				if !strings.Contains(l, f) {
					t.Errorf("shadow deny line without %s: %s", f, l)
				}
			}
		}
	}
	if shadowLines != 2 {
		t.Errorf("%d shadow deny lines:\n%s", shadowLines, logs.String())
	}
}

// TestConditionFailureLogged: an evaluation error is logged at warn with
// the route and expression, never the token.
func TestConditionFailureLogged(t *testing.T) {
	var logs bytes.Buffer
	c, _ := policyChecker(t, &logs)
	c.Check(context.Background(), &Request{Path: "/boom", Authorization: "Bearer good"})
	s := logs.String()
	if !strings.Contains(s, `"msg":"condition failed"`) || !strings.Contains(s, `"route":"boom"`) ||
		!strings.Contains(s, `"expression":"claims.nope == \"x\""`) || !strings.Contains(s, `"token_id":"`) {
		t.Errorf("log:\n%s", s)
	}
	if strings.Contains(s, "good") {
		t.Errorf("the token is in the log:\n%s", s)
	}
}

func TestPolicyRequest(t *testing.T) {
	req := &Request{Method: "get", Host: "API.Example:8443", HeaderMap: map[string]string{"authorization": "Bearer x", "dpop": "p", "cookie": "c", "x-a": "1", "X-A": "2"},
		MoreHeaders: headerPairs{{"X-A", "3"}, {"Authorization", "Bearer y"}, {"x-c", "4"}},
		Headers:     map[string][]string{"Cookie": {"c"}, "X-B": {"1", "2"}}}
	pr := policyRequest(policy.Uses{Segments: true, Headers: true}, req, "/a/b/")
	// Segments stay nil: the policy package splits the path when read.
	want := policy.Request{Method: "GET", Host: "api.example", Path: "/a/b/",
		Headers: map[string]string{"x-a": "2,1,3", "x-b": "1,2", "x-c": "4"}}
	if !reflect.DeepEqual(pr, want) {
		t.Errorf("got %+v\nwant %+v", pr, want)
	}
	if pr := policyRequest(policy.Uses{}, req, "/a"); pr.Segments != nil || pr.Headers != nil {
		t.Errorf("built unused fields: %+v", pr)
	}
}

// headerPairs is a HeaderList of name, value pairs.
type headerPairs [][2]string

func (p headerPairs) Len() int                      { return len(p) }
func (p headerPairs) At(i int) (name, value string) { return p[i][0], p[i][1] }

// benchPolicy checks GET /orgs/org_1/items for a cached token on a route
// with the given conditions (none: the baseline).
func benchPolicy(b *testing.B, cs *policy.Conditions) {
	f := answering(b, introspection.CacheHit, map[string]string{"good": `{"active":true,"scope":"read","sub":"u1","org_id":"org_1","roles":["admin"]}`})
	tenant := &Tenant{Name: "acme", Introspector: f,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}}})}
	snap := NewSnapshot([]Route{{Rule: routing.Rule{Name: "orgs", PathPrefix: "/orgs/"}, Tenant: tenant,
		Policy: decision.Policy{Realm: "acme", Scopes: []string{"read"}}, Conditions: cs}})
	c := New(snap, Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
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
	benchPolicy(b, mustConditions(b, `claims.org_id == request.segments[1]`, `"admin" in claims.roles`))
}
