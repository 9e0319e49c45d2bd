package grpcauthz

import (
	"bytes"
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
)

func httpReq(h *authv3.AttributeContext_HttpRequest, ext map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: h},
		ContextExtensions: ext,
	}}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name string
		in   *authv3.CheckRequest
		want check.Request
	}{
		{"nil request", nil, check.Request{}},
		{"empty attributes", &authv3.CheckRequest{}, check.Request{}},
		{"host attribute wins", httpReq(&authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/p?q", Host: "a.example",
			Headers: map[string]string{":authority": "b.example", "host": "c.example", "authorization": "Bearer x"},
		}, map[string]string{"route": "r1"}), check.Request{Method: "GET", Path: "/p?q", Host: "a.example", Authorization: "Bearer x", RouteName: "r1"}},
		{"authority next", httpReq(&authv3.AttributeContext_HttpRequest{
			Headers: map[string]string{":authority": "b.example", "host": "c.example"},
		}, nil), check.Request{Host: "b.example"}},
		{"host header last", httpReq(&authv3.AttributeContext_HttpRequest{
			Headers: map[string]string{"host": "c.example"},
		}, nil), check.Request{Host: "c.example"}},
		{"non-lowercase key from a non-Envoy client", httpReq(&authv3.AttributeContext_HttpRequest{
			Headers: map[string]string{"Authorization": "Bearer y"},
		}, nil), check.Request{Authorization: "Bearer y"}},
		{"header_map with duplicates is comma-joined and marked", httpReq(&authv3.AttributeContext_HttpRequest{
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: "authorization", RawValue: []byte("Bearer a")},
				{Key: "Authorization", Value: "Bearer b"},
				{Key: ":authority", Value: "d.example"},
			}},
		}, nil), check.Request{Host: "d.example", Authorization: "Bearer a,Bearer b", DuplicateAuthorization: true}},
		{"keys differing only in case are duplicates", httpReq(&authv3.AttributeContext_HttpRequest{
			Headers: map[string]string{"authorization": "Bearer a", "Authorization": "Bearer b", "Host": "x.example", "HOST": "y.example"},
		}, nil), check.Request{Host: "y.example,x.example", Authorization: "Bearer b,Bearer a", Duplicated: true, DuplicateAuthorization: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Request(tt.in)
			got.HeaderMap, got.MoreHeaders = nil, nil // TestRequestHeaderMap
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Request() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResponseDeny(t *testing.T) {
	for _, tt := range []struct {
		d    decision.Decision
		code codes.Code
	}{
		{decision.DenyMalformedRequest(), codes.InvalidArgument},
		{decision.DenyNoRoute(), codes.PermissionDenied},
		{decision.DenyMissingToken(&decision.Policy{Realm: "t"}), codes.Unauthenticated},
		{decision.DenyInvalidDPoPProof(&decision.Policy{Realm: "t"}, "DPoP proof is missing"), codes.Unauthenticated},
		{decision.DenyIntrospectionError(), codes.Unavailable},
	} {
		resp := Response(&check.Outcome{Decision: tt.d})
		if codes.Code(resp.GetStatus().GetCode()) != tt.code {
			t.Errorf("%s: code %v, want %v", tt.d.Reason, resp.GetStatus().GetCode(), tt.code)
		}
		d := resp.GetDeniedResponse()
		if int(d.GetStatus().GetCode()) != tt.d.Status || d.GetBody() != string(tt.d.Body()) {
			t.Errorf("%s: denied response %v", tt.d.Reason, d)
		}
		var challenge string
		for _, h := range d.GetHeaders() {
			if h.GetHeader().GetKey() == "www-authenticate" {
				challenge = h.GetHeader().GetValue()
			}
		}
		if challenge != tt.d.Challenge() {
			t.Errorf("%s: challenge %q, want %q", tt.d.Reason, challenge, tt.d.Challenge())
		}
	}
}

func TestResponseAllow(t *testing.T) {
	resp := Response(&check.Outcome{
		Decision: decision.Decision{Allow: true, Reason: decision.Allowed},
		Set:      []claimheaders.Header{{Name: "x-sub", Value: "u"}},
		Remove:   []string{"x-org"},
		Metadata: check.Metadata{Tenant: "t", Route: "r", Subject: "u"},
	})
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != 0 || ok == nil || resp.GetDeniedResponse() != nil {
		t.Fatalf("not an allow: %v", resp)
	}
	if len(ok.GetHeaders()) != 1 || ok.GetHeaders()[0].GetHeader().GetKey() != "x-sub" ||
		ok.GetHeaders()[0].GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
		t.Errorf("headers = %v", ok.GetHeaders())
	}
	if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "x-org" {
		t.Errorf("remove = %v", ok.GetHeadersToRemove())
	}
	f := resp.GetDynamicMetadata().GetFields()
	if f["tenant"].GetStringValue() != "t" || f["sub"].GetStringValue() != "u" {
		t.Errorf("metadata = %v", f)
	}
	if _, has := f["client_id"]; has {
		t.Error("absent client_id in metadata")
	}
}

func TestPreEncodedIsTheSameOnTheWire(t *testing.T) {
	m := render(&check.Outcome{
		Decision: decision.Decision{Allow: true, Reason: decision.Allowed},
		Set:      []claimheaders.Header{{Name: "x-sub", Value: "u"}},
		Remove:   []string{"x-org"},
		Metadata: check.Metadata{Tenant: "t", Route: "r", Subject: "u", Scope: "a b"},
	})
	wire, err := proto.Marshal(preEncoded(m))
	if err != nil {
		t.Fatal(err)
	}
	var decoded authv3.CheckResponse
	if err := proto.Unmarshal(wire, &decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&decoded, m) {
		t.Fatalf("decoded %v\nwant    %v", &decoded, m)
	}
}

func TestCodecDecodesInvalidUTF8AsReplacement(t *testing.T) {
	req := httpReq(&authv3.AttributeContext_HttpRequest{Path: "/p/é", Headers: map[string]string{"authorization": "Bearer é"}}, nil)
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.ReplaceAll(wire, []byte("é"), []byte{0xff, 0xfe})
	if proto.Unmarshal(bad, &authv3.CheckRequest{}) == nil {
		t.Fatal("strict protobuf accepted invalid UTF-8; the test proves nothing")
	}
	var got authv3.CheckRequest
	if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, &got); err != nil {
		t.Fatalf("lenient decode: %v", err)
	}
	h := got.GetAttributes().GetRequest().GetHttp()
	if h.GetPath() != "/p/\uFFFD" || h.GetHeaders()["authorization"] != "Bearer \uFFFD" {
		t.Fatalf("decoded %q %q", h.GetPath(), h.GetHeaders()["authorization"])
	}
	if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0xff})}, &got); err == nil {
		t.Fatal("a broken encoding was accepted")
	}
}
