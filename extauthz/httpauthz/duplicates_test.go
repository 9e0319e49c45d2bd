package httpauthz

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// lastReason remembers the reason of the last outcome.
type lastReason struct{ reason decision.Reason }

func (l *lastReason) Decided(_ context.Context, out check.Outcome) { l.reason = out.Decision.Reason }

// A header of the configured forwarded family sent twice is refused: net/http
// joins the copies, and the first one would otherwise pick the route while an
// upstream may read the other.
func TestDuplicatedForwardedHeadersAreMalformed(t *testing.T) {
	tenant := &check.Tenant{Name: "acme", Introspector: introspectiontest.Active(), Headers: claimheaders.New(claimheaders.Options{})}
	snap := check.NewSnapshot([]check.Route{
		{Rule: routing.Rule{Name: "pub", PathPrefix: "/public"}, Public: true},
		{Rule: routing.Rule{Name: "pub-host", Hosts: []string{"public.example"}}, Public: true},
		{Rule: routing.Rule{Name: "pub-method", Methods: []string{"OPTIONS"}}, Public: true},
		{Rule: routing.Rule{Name: "admin"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}},
	})
	obs := &lastReason{}
	checker := check.New(snap, check.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
	type hdr [2]string
	tests := []struct {
		family  string
		uri     string
		headers []hdr
		status  int
		reason  decision.Reason
	}{
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Uri", "/public"}, {"X-Forwarded-Uri", "/admin"}}, 400, decision.MalformedRequest},
		{ForwardedXForwarded, "/authz", []hdr{{"x-forwarded-uri", "/public"}, {"X-FORWARDED-URI", "/public"}}, 400, decision.MalformedRequest},
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Host", "public.example"}, {"X-Forwarded-Host", "admin.example"}}, 400, decision.MalformedRequest},
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Method", "OPTIONS"}, {"X-Forwarded-Method", "DELETE"}}, 400, decision.MalformedRequest},
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Uri", ""}, {"X-Forwarded-Uri", "/public"}}, 400, decision.MalformedRequest},
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Uri", "/public"}}, 200, decision.Public},
		{ForwardedXForwarded, "/authz", []hdr{{"X-Forwarded-Uri", "/public"}, {"X-Original-URI", "/a"}, {"X-Original-URI", "/b"}}, 200, decision.Public},
		{ForwardedXOriginal, "/authz", []hdr{{"X-Original-URI", "/public"}, {"X-Original-Uri", "/admin"}}, 400, decision.MalformedRequest},
		{ForwardedXOriginal, "/authz", []hdr{{"X-Original-Method", "OPTIONS"}, {"X-Original-Method", "GET"}}, 400, decision.MalformedRequest},
		{ForwardedXOriginal, "/authz", []hdr{{"X-Original-URI", "/public"}, {"X-Forwarded-Uri", "/a"}, {"X-Forwarded-Uri", "/b"}}, 200, decision.Public},
		{ForwardedNone, "/authz/public", []hdr{{"X-Forwarded-Uri", "/a"}, {"X-Forwarded-Uri", "/b"}, {"X-Original-URI", "/a"}, {"X-Original-URI", "/b"}}, 200, decision.Public},
	}
	for _, tt := range tests {
		t.Run(tt.family+" "+tt.headers[len(tt.headers)-1][0], func(t *testing.T) {
			r := request(tt.uri, nil)
			r.Method = "GET"
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			w := httptest.NewRecorder()
			New(checker, Options{ForwardedHeaders: tt.family}).ServeHTTP(w, r)
			if w.Code != tt.status || obs.reason != tt.reason {
				t.Fatalf("%v: got %d %q, want %d %q", tt.headers, w.Code, obs.reason, tt.status, tt.reason)
			}
		})
	}
}

// Authorization sent twice is a malformed token whatever the copies hold
// (the comma-joined value of an empty and a good copy would read as
// another scheme, 401, rather than the 400 of a duplicate).
func TestDuplicatedAuthorizationIsMalformedToken(t *testing.T) {
	tenant := &check.Tenant{Name: "acme", Introspector: introspectiontest.Active(), Headers: claimheaders.New(claimheaders.Options{})}
	snap := check.NewSnapshot([]check.Route{{Rule: routing.Rule{Name: "admin"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}}})
	obs := &lastReason{}
	h := New(check.New(snap, check.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs}), Options{})
	for _, values := range [][]string{{"", "Bearer good"}, {"Bearer good", ""}, {"Bearer good", "Bearer good"}, {"", ""}} {
		r := request("/authz/x", nil)
		for _, v := range values {
			r.Header.Add("Authorization", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 400 || obs.reason != decision.MalformedToken {
			t.Errorf("Authorization %q: got %d %q, want 400 malformed_token", values, w.Code, obs.reason)
		}
	}
}

// A trace header sent twice reads as the gRPC front end reads it (and as
// Envoy passes duplicates): comma-joined, so a doubled traceparent is
// invalid and the check joins neither trace.
func TestDuplicatedTraceparentIsIgnored(t *testing.T) {
	h := New(nil, Options{Propagator: propagation.TraceContext{}})
	const a = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const b = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
	for _, tt := range []struct {
		values []string
		want   string
	}{
		{[]string{a}, "0af7651916cd43dd8448eb211c80319c"},
		{[]string{a, b}, ""},
		{[]string{a, a}, ""},
	} {
		r := request("/authz", nil)
		for _, v := range tt.values {
			r.Header.Add("Traceparent", v)
		}
		sc := trace.SpanContextFromContext(h.traceParent(r))
		got := ""
		if sc.IsValid() {
			got = sc.TraceID().String()
		}
		if got != tt.want {
			t.Errorf("traceparent %q: trace id %q, want %q", tt.values, got, tt.want)
		}
	}
}
