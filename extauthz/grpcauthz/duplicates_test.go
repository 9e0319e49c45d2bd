package grpcauthz

import (
	"context"
	"log/slog"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

func testServer() *Server {
	tenant := &Tenant{Name: "acme", Introspector: introspectiontest.Active(), Headers: claimheaders.New(claimheaders.Options{})}
	snap := check.NewSnapshot([]check.Route{
		{Rule: routing.Rule{Name: "pub", Hosts: []string{"public.example"}}, Public: true},
		{Rule: routing.Rule{Name: "api", PathPrefix: "/"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}},
	})
	return New(check.New(snap, check.Options{Logger: slog.New(slog.DiscardHandler)}), Options{})
}

// Tenant is check.Tenant, named here for brevity.
type Tenant = check.Tenant

// Keys of attributes.request.http.headers that differ only in case name one
// header sent twice: a non-Envoy client (or a proxy in between) must not be
// able to pick which copy tokengate reads.
func TestHeaderKeysDifferingOnlyInCaseAreDuplicates(t *testing.T) {
	s := testServer()
	hm := func(kv ...string) *corev3.HeaderMap {
		m := &corev3.HeaderMap{}
		for i := 0; i < len(kv); i += 2 {
			m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], Value: kv[i+1]})
		}
		return m
	}
	const malformed = `Bearer realm="acme", error="invalid_request", error_description="the bearer token is malformed"`
	tests := []struct {
		name      string
		http      *authv3.AttributeContext_HttpRequest
		reason    decision.Reason
		challenge string
	}{
		{"authorization twice", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			Headers: map[string]string{"authorization": "Bearer good", "Authorization": "Bearer good"}}, decision.MalformedToken, malformed},
		{"authorization twice, one empty", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			Headers: map[string]string{"authorization": "", "AUTHORIZATION": "Bearer good"}}, decision.MalformedToken, malformed},
		{"authorization twice, both empty", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			Headers: map[string]string{"authorization": "", "Authorization": ""}}, decision.MalformedToken, malformed},
		{"authorization in headers and header_map", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			Headers: map[string]string{"authorization": "Bearer good"}, HeaderMap: hm("authorization", "Bearer good")}, decision.MalformedToken, malformed},
		{"authorization twice in header_map, one empty", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			HeaderMap: hm("authorization", "", "Authorization", "Bearer good")}, decision.MalformedToken, malformed},
		{"one capitalised authorization is read", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "a.example",
			Headers: map[string]string{"Authorization": "Bearer good"}}, decision.Allowed, ""},
		{"duplicate authorization on a public route needs no token", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "public.example",
			Headers: map[string]string{"authorization": "Bearer good", "Authorization": "Bearer good"}}, decision.Public, ""},
		{"host header twice", &authv3.AttributeContext_HttpRequest{Path: "/x",
			Headers: map[string]string{"host": "public.example", "Host": "a.example", "authorization": "Bearer good"}}, decision.MalformedRequest, ""},
		{":authority twice in header_map", &authv3.AttributeContext_HttpRequest{Path: "/x",
			HeaderMap: hm(":authority", "public.example", ":authority", "a.example")}, decision.MalformedRequest, ""},
		{"host header twice but the host attribute is set", &authv3.AttributeContext_HttpRequest{Path: "/x", Host: "public.example",
			Headers: map[string]string{"host": "x.example", "Host": "y.example"}}, decision.Public, ""},
		{"host header twice but :authority is set", &authv3.AttributeContext_HttpRequest{Path: "/x",
			Headers: map[string]string{":authority": "public.example", "host": "x.example", "Host": "y.example"}}, decision.Public, ""},
		{"unicode-folding lookalike is another header", &authv3.AttributeContext_HttpRequest{Path: "/x",
			Headers: map[string]string{"ho\u017Ft": "public.example"}}, decision.MissingToken, `Bearer realm="acme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, err := s.Check(context.Background(), httpReq(tt.http, nil))
			if err != nil {
				t.Fatal(err)
			}
			resp := decoded(t, pre) // an allow may be pre-encoded
			if got := decision.Reason(resp.GetStatus().GetMessage()); got != tt.reason {
				t.Fatalf("reason = %q, want %q", got, tt.reason)
			}
			var challenge string
			for _, h := range resp.GetDeniedResponse().GetHeaders() {
				if h.GetHeader().GetKey() == "www-authenticate" {
					challenge = h.GetHeader().GetValue()
				}
			}
			if challenge != tt.challenge {
				t.Errorf("challenge = %q, want %q", challenge, tt.challenge)
			}
		})
	}
}

func decoded(t *testing.T, m *authv3.CheckResponse) *authv3.CheckResponse {
	t.Helper()
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var r authv3.CheckResponse
	if err := proto.Unmarshal(wire, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// Trace headers follow the same rule: keys differing only in case are one
// header sent twice, joined with "," as Envoy joins duplicates (which makes
// a traceparent invalid, so the check is not put in either trace).
func TestTraceHeaderKeysDifferingOnlyInCase(t *testing.T) {
	s := &Server{propagator: propagation.TraceContext{}}
	const a = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const b = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    string // trace id, "" for none
	}{
		{"lowercase", map[string]string{"traceparent": a}, "0af7651916cd43dd8448eb211c80319c"},
		{"capitalised alone is read", map[string]string{"Traceparent": b}, "1af7651916cd43dd8448eb211c80319c"},
		{"both spellings: neither", map[string]string{"traceparent": a, "Traceparent": b}, ""},
		{"both spellings, same value: neither", map[string]string{"traceparent": a, "TRACEPARENT": a}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := s.traceParent(context.Background(), traceCarrier(tt.headers, hasMixedCaseKey(tt.headers)))
			sc := trace.SpanContextFromContext(ctx)
			got := ""
			if sc.IsValid() {
				got = sc.TraceID().String()
			}
			if got != tt.want {
				t.Errorf("trace id = %q, want %q", got, tt.want)
			}
		})
	}
}
