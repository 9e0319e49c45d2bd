package grpcauthz

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// TestRequestReadsSenderConstraintInputs: the DPoP header(s), the scheme
// for htu and the client certificate Envoy forwards
// (include_peer_certificate: true).
func TestRequestReadsSenderConstraintInputs(t *testing.T) {
	in := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Certificate: "-----BEGIN%20CERTIFICATE-----"},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Host: "a.example:8443", Path: "/x", Scheme: "http",
			Headers: map[string]string{"authorization": "DPoP t", "dpop": "p1"},
		}},
	}}
	got := Request(in)
	got.HeaderMap = nil // TestRequestHeaderMap
	want := check.Request{Method: "GET", Host: "a.example:8443", Path: "/x", Scheme: "http", Authorization: "DPoP t",
		DPoP: []string{"p1"}, Certificate: "-----BEGIN%20CERTIFICATE-----"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Request() = %+v\nwant        %+v", got, want)
	}
	for _, tt := range []struct {
		name string
		http *authv3.AttributeContext_HttpRequest
		want []string
	}{
		{"none", &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"authorization": "DPoP t"}}, nil},
		{"keys differing only in case", &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"dpop": "a", "DPoP": "b"}}, []string{"b", "a"}},
		{"headers and header_map", &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"dpop": "a"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "DPOP", RawValue: []byte("b")}}}}, []string{"a", "b"}},
		{"empty value is a header", &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"dpop": ""}}, []string{""}},
	} {
		r := Request(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: tt.http}}})
		if !reflect.DeepEqual(r.DPoP, tt.want) {
			t.Errorf("%s: DPoP %q, want %q", tt.name, r.DPoP, tt.want)
		}
	}
}

// TestDPoPThroughCheck: the gRPC front end's answers for DPoP, with the
// challenge Envoy passes on.
func TestDPoPThroughCheck(t *testing.T) {
	key := dpoptest.NewKey(t, "ES256")
	as := introspectiontest.NewIntrospector()
	claims, err := introspection.ParseClaims([]byte(`{"active":true,"cnf":{"jkt":"` + key.Thumbprint() + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	as.Answer("tok", introspection.Result{Claims: claims})
	tenant := &check.Tenant{Name: "acme", Introspector: as,
		Headers: claimheaders.New(claimheaders.Options{StripAuthorization: true})}
	snap := check.NewSnapshot([]check.Route{{Rule: routing.Rule{Name: "api"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}}})
	s := New(check.New(snap, check.Options{Logger: slog.New(slog.DiscardHandler)}), Options{})
	send := func(headers map[string]string, scheme string) grpcauthztest.Answer {
		resp, err := s.Check(context.Background(), grpcauthztest.Request{Host: "api.example", Path: "/orders?x=1", Scheme: scheme, Headers: headers}.Proto())
		if err != nil {
			t.Fatal(err)
		}
		wire, err := proto.Marshal(resp) // allows are pre-encoded: read them as Envoy does
		if err != nil {
			t.Fatal(err)
		}
		decoded := &authv3.CheckResponse{}
		if err := proto.Unmarshal(wire, decoded); err != nil {
			t.Fatal(err)
		}
		return grpcauthztest.ParseAnswer(t, decoded)
	}
	proof := func(htu string) string { return key.Proof(t, "GET", htu, "tok") }

	a := send(map[string]string{"authorization": "DPoP tok", "dpop": proof("https://api.example/orders")}, "https")
	if !a.Allow || !reflect.DeepEqual(a.Remove, []string{"authorization", "dpop"}) {
		t.Fatalf("allow: %+v (strip_authorization removes the proof too)", a)
	}
	a = send(map[string]string{"authorization": "DPoP tok", "dpop": proof("https://api.example/orders"), "DPoP": proof("https://api.example/orders")}, "https")
	if a.Reason != "invalid_dpop_proof" || a.Status != 401 || a.Body["error_description"] != "more than one DPoP header" ||
		a.Challenge != `DPoP realm="acme", error="invalid_dpop_proof", error_description="more than one DPoP header", algs="ES256 RS256 PS256 EdDSA"` {
		t.Fatalf("two DPoP headers: %+v", a)
	}
	if a = send(map[string]string{"authorization": "DPoP tok", "dpop": proof("https://api.example/orders")}, "http"); a.Reason != "invalid_dpop_proof" {
		t.Fatalf("https htu for an http request: %+v", a)
	}
	if a = send(map[string]string{"authorization": "DPoP tok", "dpop": proof("http://api.example/orders")}, ""); a.Reason != "invalid_dpop_proof" {
		t.Fatalf("no scheme is https: %+v", a)
	}
	a = send(map[string]string{"authorization": "Bearer tok"}, "https")
	if a.Reason != "invalid_token" || !strings.HasPrefix(a.Challenge, `DPoP realm="acme", error="invalid_token"`) {
		t.Fatalf("downgrade: %+v", a)
	}
}
