package httpauthz

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/tokengate/tokengate/extauthz/check"
)

func TestIsCheck(t *testing.T) {
	for uri, want := range map[string]bool{
		"/authz": true, "/authz?x=1": true, "/authz/": true, "/authz/orders/1": true,
		"/authz/../admin": true, "/authz//x": true,
		"/authzfoo": false, "/": false, "/healthz": false, "/metrics": false, "/x/authz": false, "/authz%2Fx": false,
	} {
		r := httptest.NewRequest("GET", "http://tokengate"+uri, nil)
		r.RequestURI = uri
		if got := IsCheck(r); got != want {
			t.Errorf("IsCheck(%q) = %v", uri, got)
		}
	}
}

func request(uri string, headers map[string]string) *http.Request {
	r := httptest.NewRequest("POST", "http://tokengate.internal"+uri, nil)
	r.RequestURI = uri
	for k, v := range headers {
		r.Header.Add(k, v)
	}
	return r
}

func TestRequest(t *testing.T) {
	spoof := map[string]string{
		"X-Forwarded-Method": "DELETE", "X-Forwarded-Host": "admin.example", "X-Forwarded-Uri": "/admin?x=1",
		"X-Original-Method": "PUT", "X-Original-URI": "/original/path",
		"Authorization": "Bearer t",
	}
	tests := []struct {
		name, family, uri string
		headers           map[string]string
		want              check.Request
	}{
		{"envoy: prefix cut", ForwardedNone, "/authz/orders/1?q=2", spoof,
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/orders/1?q=2", Authorization: "Bearer t"}},
		{"envoy: /authz alone is /", ForwardedNone, "/authz", nil,
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/"}},
		{"envoy: /authz with a query", ForwardedNone, "/authz?q=1", nil,
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/?q=1"}},
		{"envoy: raw path kept for the check to judge", ForwardedNone, "/authz/a/%2e%2e/b", nil,
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/a/%2e%2e/b"}},
		{"x-forwarded reads only its family", ForwardedXForwarded, "/authz", spoof,
			check.Request{Method: "DELETE", Host: "admin.example", Path: "/admin?x=1", Authorization: "Bearer t"}},
		{"x-forwarded falls back per header", ForwardedXForwarded, "/authz/fallback", map[string]string{"X-Forwarded-Host": "orders.example"},
			check.Request{Method: "POST", Host: "orders.example", Path: "/fallback"}},
		{"x-original reads only its family, host from Host", ForwardedXOriginal, "/authz", spoof,
			check.Request{Method: "PUT", Host: "tokengate.internal", Path: "/original/path", Authorization: "Bearer t"}},
		{"x-forwarded: a header of the family twice is marked", ForwardedXForwarded, "/authz", map[string]string{"X-Forwarded-Uri": "/a", "x-forwarded-uri": "/a", "X-Original-URI": "/c"},
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/a,/a", Duplicated: true}},
		{"x-original: a header of the family twice is marked", ForwardedXOriginal, "/authz", map[string]string{"X-Original-Method": "GET", "x-original-method": "GET"},
			check.Request{Method: "GET,GET", Host: "tokengate.internal", Path: "/", Duplicated: true}},
		{"none: forwarded headers twice are not read", ForwardedNone, "/authz", map[string]string{"X-Forwarded-Uri": "/a", "x-forwarded-uri": "/b"},
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/"}},
		{"duplicate Authorization headers are joined", ForwardedNone, "/authz", map[string]string{"Authorization": "Bearer a"},
			check.Request{Method: "POST", Host: "tokengate.internal", Path: "/", Authorization: "Bearer a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(nil, Options{ForwardedHeaders: tt.family})
			r := request(tt.uri, tt.headers)
			got := h.Request(r)
			if got.Headers == nil || got.Headers["Authorization"] == nil != (r.Header["Authorization"] == nil) {
				t.Errorf("Headers are not the request's")
			}
			if got.Headers = nil; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Request() = %+v\nwant        %+v", got, tt.want)
			}
		})
	}
	r := request("/authz", nil)
	r.Header.Add("Authorization", "Bearer a")
	r.Header.Add("Authorization", "Bearer b")
	if got := New(nil, Options{}).Request(r); got.Authorization != "Bearer a,Bearer b" || !got.DuplicateAuthorization {
		t.Errorf("two Authorization headers = %q (duplicate %v)", got.Authorization, got.DuplicateAuthorization)
	}
}
