package dpop

import "testing"

// htu is compared per RFC 3986 §6 with the request's scheme, authority and
// normalized path.
func TestHTU(t *testing.T) {
	type req struct{ scheme, authority, path string }
	api := req{"https", "api.example.com", "/orders/1"}
	cases := []struct {
		name  string
		htu   string
		req   req
		match bool
	}{
		{"same", "https://api.example.com/orders/1", api, true},
		{"host case", "https://API.Example.COM/orders/1", api, true},
		{"request host case", "https://api.example.com/orders/1", req{"https", "Api.Example.com", "/orders/1"}, true},
		{"scheme case", "HTTPS://api.example.com/orders/1", api, true},
		{"request scheme case", "https://api.example.com/orders/1", req{"HTTPS", "api.example.com", "/orders/1"}, true},
		{"default port in htu", "https://api.example.com:443/orders/1", api, true},
		{"default port in request", "https://api.example.com/orders/1", req{"https", "api.example.com:443", "/orders/1"}, true},
		{"empty port", "https://api.example.com:/orders/1", api, true},
		{"http default port", "http://api.example.com:80/orders/1", req{"http", "api.example.com", "/orders/1"}, true},
		{"explicit port", "https://api.example.com:8443/orders/1", req{"https", "api.example.com:8443", "/orders/1"}, true},
		{"query in htu", "https://api.example.com/orders/1?page=2", api, true},
		{"fragment in htu", "https://api.example.com/orders/1#top", api, true},
		{"query in request", "https://api.example.com/orders/1", req{"https", "api.example.com", "/orders/1?page=2"}, true},
		{"both queries differ", "https://api.example.com/orders/1?a=1", req{"https", "api.example.com", "/orders/1?b=2"}, true},
		{"repeated slashes", "https://api.example.com//orders//1", api, true},
		{"encoded unreserved", "https://api.example.com/%6Frders/%31", api, true},
		{"percent hex case", "https://api.example.com/a%3Ab", req{"https", "api.example.com", "/a%3ab"}, true},
		{"root, empty path", "https://api.example.com", req{"https", "api.example.com", "/"}, true},
		{"IPv6", "https://[::1]:8443/orders/1", req{"https", "[::1]:8443", "/orders/1"}, true},

		{"other scheme", "http://api.example.com/orders/1", api, false},
		{"other port", "https://api.example.com:8443/orders/1", api, false},
		{"port of the other scheme", "https://api.example.com:80/orders/1", api, false},
		{"other host", "https://evil.example.com/orders/1", api, false},
		{"host suffix", "https://api.example.com.evil.example/orders/1", api, false},
		{"trailing slash", "https://api.example.com/orders/1/", api, false},
		{"trailing slash in request", "https://api.example.com/orders/1", req{"https", "api.example.com", "/orders/1/"}, false},
		{"prefix", "https://api.example.com/orders", api, false},
		{"path case", "https://api.example.com/Orders/1", api, false},
		{"dot segment", "https://api.example.com/orders/./1", api, false},
		{"dot-dot segment", "https://api.example.com/orders/x/../1", api, false},
		{"encoded dot-dot", "https://api.example.com/x/%2e%2e/orders/1", api, false},
		{"dot-dot with parameters", "https://api.example.com/x/..;/orders/1", api, false},
		{"encoded slash", "https://api.example.com/orders%2F1", req{"https", "api.example.com", "/orders%2F1"}, false},
		{"backslash", `https://api.example.com/orders\1`, api, false},
		{"userinfo", "https://user@api.example.com/orders/1", api, false},
		{"percent-encoded host", "https://api%2Eexample.com/orders/1", api, false},
		{"no scheme", "//api.example.com/orders/1", api, false},
		{"relative", "/orders/1", api, false},
		{"ftp", "ftp://api.example.com/orders/1", api, false},
		{"empty", "", api, false},
		{"port too large", "https://api.example.com:65536/orders/1", api, false},
		{"port not a number", "https://api.example.com:https/orders/1", api, false},
		{"control character", "https://api.example.com/orders/1\x00", api, false},
		{"request without scheme", "https://api.example.com/orders/1", req{"", "api.example.com", "/orders/1"}, false},
		{"request without authority", "https://api.example.com/orders/1", req{"https", "", "/orders/1"}, false},
		{"IPv6 other port", "https://[::1]/orders/1", req{"https", "[::1]:8443", "/orders/1"}, false},
	}
	v := newTestVerifier(t, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proof := key(t, "ES256").proof(t, func(_, claims map[string]any) { claims["htu"] = c.htu })
			r := Request{Method: "GET", Scheme: c.req.scheme, Authority: c.req.authority, Path: c.req.path}
			_, err := v.Verify([]string{proof}, r, testToken, testNow)
			if c.match && err != nil {
				t.Fatalf("htu %q, request %+v: %v", c.htu, c.req, err)
			}
			if !c.match {
				wantInvalid(t, err, "DPoP proof htu does not match the request")
			}
		})
	}
}

// With an origin, htu names it whatever the request's scheme and authority.
func TestHTUOrigin(t *testing.T) {
	v := newTestVerifier(t, Options{Origin: "HTTPS://Gateway.Example.com:443/"})
	internal := Request{Method: "GET", Scheme: "http", Authority: "10.0.0.7:8080", Path: "/orders/1"}
	for htu, match := range map[string]bool{
		"https://gateway.example.com/orders/1":      true,
		"https://gateway.example.com:443/orders/1":  true,
		"https://gateway.example.com/orders/2":      false,
		"http://10.0.0.7:8080/orders/1":             false,
		"https://api.example.com/orders/1":          false,
		"https://gateway.example.com:8443/orders/1": false,
	} {
		proof := key(t, "ES256").proof(t, func(_, c map[string]any) { c["htu"] = htu })
		_, err := v.Verify([]string{proof}, internal, testToken, testNow)
		if match && err != nil {
			t.Errorf("%s: %v", htu, err)
		} else if !match {
			wantInvalid(t, err, "DPoP proof htu does not match the request")
		}
	}
}
