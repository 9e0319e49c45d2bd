package httpauthz

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// renderTestHandler is a handler over one tenant whose token has claims
// (sub, scope; org_id absent) and a public route.
func renderTestHandler(t testing.TB) (*Handler, *check.Checker, func() *check.Snapshot) {
	t.Helper()
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"user-1","scope":"orders.read profile"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Every token has the same claims, as a cached token has.
	as := introspectiontest.NewIntrospector()
	as.AnswerAll(introspection.Result{Claims: claims, Cache: introspection.CacheHit})
	snapshot := func() *check.Snapshot {
		tenant := &check.Tenant{Name: "acme", Introspector: as, Headers: claimheaders.New(claimheaders.Options{
			Claims: []claimheaders.ClaimHeader{
				{Claim: "sub", Header: "x-auth-subject"}, {Claim: "scope", Header: "x-auth-scope"}, {Claim: "org_id", Header: "x-auth-org"},
			},
			StripAuthorization: true,
		})}
		return check.NewSnapshot([]check.Route{
			{Rule: routing.Rule{Name: "pub", PathPrefix: "/public"}, Public: true},
			{Rule: routing.Rule{Name: "orders", PathPrefix: "/orders"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme", Scopes: []string{"orders.read"}}},
			{Rule: routing.Rule{Name: "admin", PathPrefix: "/admin"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme", Scopes: []string{"admin"}}},
		})
	}
	checker := check.New(snapshot(), check.Options{Logger: slog.New(slog.DiscardHandler)})
	return New(checker, Options{ForwardedHeaders: ForwardedNone}), checker, snapshot
}

// oldWrite is how responses were written before headers were prepared:
// through Header.Set. The prepared ones must come out the same.
func oldWrite(w http.ResponseWriter, out *check.Outcome) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	d := &out.Decision
	if d.Allow {
		for _, h := range out.Set {
			hdr.Set(h.Name, h.Value)
		}
		if len(out.Remove) > 0 {
			hdr.Set(HeadersToRemove, strings.Join(out.Remove, ","))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr.Set("Content-Type", "application/json")
	if c := d.Challenge(); c != "" {
		hdr.Set("WWW-Authenticate", c)
	}
	w.WriteHeader(d.Status)
	w.Write(d.Body())
}

func TestResponsesAsHeaderSetWroteThem(t *testing.T) {
	h, checker, _ := renderTestHandler(t)
	for _, tc := range []struct {
		uri, auth string
		status    int
	}{
		{"/authz/orders/1", "Bearer t", 200},
		{"/authz/public/x", "", 200},
		{"/authz/admin", "Bearer t", 403},
		{"/authz/orders/1", "", 401},
		{"/authz/nowhere", "", 403},
	} {
		for range 2 { // the second time from the allow cache
			r := request(tc.uri, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			got := httptest.NewRecorder()
			h.ServeHTTP(got, r)
			req := h.Request(r)
			out := checker.Check(context.Background(), &req)
			want := httptest.NewRecorder()
			oldWrite(want, &out)
			if got.Code != tc.status || got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || got.Body.String() != want.Body.String() {
				t.Errorf("%s: got %d %v %q\nwant %d %v %q", tc.uri, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
	}
}

func TestCanonicalNames(t *testing.T) {
	for key, name := range map[string]string{
		cacheControlKey: "cache-control", contentTypeKey: "content-type", wwwAuthenticateKey: "WWW-Authenticate",
		headersToRemoveKey: HeadersToRemove,
	} {
		if c := http.CanonicalHeaderKey(name); c != key {
			t.Errorf("%q: canonical %q, prepared %q", name, c, key)
		}
	}
	for _, family := range []string{ForwardedXForwarded, ForwardedXOriginal} {
		h := New(nil, Options{ForwardedHeaders: family})
		for _, k := range []string{h.fwdMethod, h.fwdHost, h.fwdPath} {
			if k != http.CanonicalHeaderKey(k) {
				t.Errorf("%s: %q is not canonical", family, k)
			}
		}
	}
}

// An allow's headers are rendered once per claims and route, and again
// after a reload (a new snapshot, whose routes are new keys).
func TestAllowCache(t *testing.T) {
	h, checker, snapshot := renderTestHandler(t)
	serve := func(uri string) http.Header {
		r := request(uri, nil)
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("%s: %d", uri, w.Code)
		}
		return w.Header()
	}
	first := serve("/authz/orders/1")
	c := h.allows.Load()
	if c == nil || c.snap != checker.Snapshot() {
		t.Fatal("no allow cache for the snapshot in use")
	}
	if again := serve("/authz/orders/2"); &again[headersToRemoveKey][0] != &first[headersToRemoveKey][0] {
		t.Error("the second allow did not come from the cache")
	}
	serve("/authz/public/x")
	pub := c.public.Load()
	if again := serve("/authz/public/y"); pub == nil || c.public.Load() != pub || &again[headersToRemoveKey][0] != &pub.r.vals[len(pub.r.vals)-1][0] {
		t.Error("the second public allow did not come from the cache")
	}
	checker.Swap(snapshot())
	after := serve("/authz/orders/1")
	if nc := h.allows.Load(); nc == c || nc.snap != checker.Snapshot() {
		t.Error("a reload kept the old allow cache")
	}
	if &after[headersToRemoveKey][0] == &first[headersToRemoveKey][0] || !reflect.DeepEqual(after, first) {
		t.Errorf("after a reload: %v, before %v", after, first)
	}
}

// countingPropagator counts Extract calls.
type countingPropagator struct {
	propagation.TextMapPropagator
	n int
}

func (c *countingPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	c.n++
	return c.TextMapPropagator.Extract(ctx, carrier)
}

// The propagator is asked only when a trace header is present: b3 single
// and multiple headers count whatever the b3 propagator's Fields say.
func TestTraceContextOnlyWhenAHeaderIsThere(t *testing.T) {
	p := &countingPropagator{TextMapPropagator: propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}, b3.New())}
	h := New(nil, Options{Propagator: p})
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	for _, tc := range []struct {
		headers map[string]string
		calls   int
		want    string
	}{
		{map[string]string{"User-Agent": "x"}, 0, ""},
		{map[string]string{"traceparent": "00-" + traceID + "-b7ad6b7169203331-01"}, 1, traceID},
		{map[string]string{"b3": traceID + "-b7ad6b7169203331-1"}, 1, traceID},
		{map[string]string{"X-B3-TraceId": traceID, "X-B3-SpanId": "b7ad6b7169203331", "X-B3-Sampled": "1"}, 1, traceID},
		{map[string]string{"Baggage": "k=v"}, 1, ""},
	} {
		p.n = 0
		sc := trace.SpanContextFromContext(h.traceParent(request("/authz", tc.headers)))
		got := ""
		if sc.IsValid() {
			got = sc.TraceID().String()
		}
		if p.n != tc.calls || got != tc.want {
			t.Errorf("%v: %d Extract calls, trace %q; want %d, %q", tc.headers, p.n, got, tc.calls, tc.want)
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

// Writing a cached allow allocates nothing: prepared names and values are
// assigned to the header map.
func TestCachedAllowWritesWithoutAllocating(t *testing.T) {
	h, checker, _ := renderTestHandler(t)
	r := request("/authz/orders/1", nil)
	r.Header.Set("Authorization", "Bearer t")
	req := h.Request(r)
	snap := checker.Snapshot()
	out := checker.Check(context.Background(), &req)
	w := testsupport.NewDiscardWriter()
	h.write(w, snap, &out) // fills the cache and sizes the map
	if allocs := testing.AllocsPerRun(100, func() {
		clear(w.H)
		h.write(w, snap, &out)
	}); allocs != 0 || w.Code != 200 {
		t.Errorf("writing a cached allow: %v allocations, status %d", allocs, w.Code)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Request(r) }); allocs != 0 {
		t.Errorf("Request: %v allocations", allocs)
	}
}

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
	checker := check.New(snap, check.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
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
	h := New(check.New(snap, check.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs}), Options{})
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
