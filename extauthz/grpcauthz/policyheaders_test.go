package grpcauthz

import (
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestRequestHeaderMap: `when` conditions read Envoy's headers map as it
// is, or, with encode_raw_headers, header_map merged into it.
func TestRequestHeaderMap(t *testing.T) {
	headers := map[string]string{"x-a": "1", "authorization": "Bearer t"}
	got := Request(httpReq(&authv3.AttributeContext_HttpRequest{Headers: headers}, nil)).HeaderMap
	if !reflect.DeepEqual(got, headers) {
		t.Errorf("headers map: %v", got)
	}
	got = Request(httpReq(&authv3.AttributeContext_HttpRequest{
		Headers: map[string]string{"x-a": "1"},
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "X-B", Value: "2"}, {Key: "x-a", RawValue: []byte("3")},
		}},
	}, nil)).HeaderMap
	if want := map[string]string{"x-a": "1,3", "x-b": "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("header_map: %v, want %v", got, want)
	}
}
