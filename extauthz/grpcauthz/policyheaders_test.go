package grpcauthz

import (
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/check"
)

// TestRequestHeaderMap: `when` conditions read Envoy's headers map as it
// is (not a copy), and, with encode_raw_headers, header_map's entries in
// order (value, else raw_value), without copying them either.
func TestRequestHeaderMap(t *testing.T) {
	headers := map[string]string{"x-a": "1", "authorization": "Bearer t"}
	r := Request(httpReq(&authv3.AttributeContext_HttpRequest{Headers: headers}, nil))
	if !reflect.DeepEqual(r.HeaderMap, headers) || r.MoreHeaders != nil {
		t.Errorf("headers map: %v, more %v", r.HeaderMap, r.MoreHeaders)
	}
	r.HeaderMap["x-probe"] = "shared"
	if headers["x-probe"] != "shared" {
		t.Error("HeaderMap is a copy of Envoy's headers map")
	}
	r = Request(httpReq(&authv3.AttributeContext_HttpRequest{
		Headers: map[string]string{"x-a": "1"},
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "X-B", Value: "2"}, {Key: "x-a", RawValue: []byte("3")},
		}},
	}, nil))
	if want := map[string]string{"x-a": "1"}; !reflect.DeepEqual(r.HeaderMap, want) {
		t.Errorf("headers map: %v, want %v", r.HeaderMap, want)
	}
	if got, want := pairs(r.MoreHeaders), [][2]string{{"X-B", "2"}, {"x-a", "3"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("header_map: %v, want %v", got, want)
	}
}

func pairs(l check.HeaderList) [][2]string {
	if l == nil {
		return nil
	}
	var out [][2]string
	for i := range l.Len() {
		name, value := l.At(i)
		out = append(out, [2]string{name, value})
	}
	return out
}

// BenchmarkRequestHeaderMap: reading a CheckRequest whose headers came in
// header_map copies none of them for `when` conditions.
func BenchmarkRequestHeaderMap(b *testing.B) {
	var entries []*corev3.HeaderValue
	for _, k := range []string{":authority", ":path", ":method", "authorization", "user-agent", "accept", "x-request-id", "x-forwarded-for"} {
		entries = append(entries, &corev3.HeaderValue{Key: k, RawValue: []byte("value-of-" + k)})
	}
	req := httpReq(&authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: entries}}, nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = Request(req)
	}
}
