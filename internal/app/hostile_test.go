package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/testsupport"
)

// hostileCase is one malformed CheckRequest and the answer it must get.
type hostileCase struct {
	name   string
	req    *authv3.CheckRequest
	status int    // HTTP status of the answer (200 for an allow)
	reason string // the reason word
	// badUTF8: every "é" of the encoded request becomes the invalid bytes
	// FF FE on the wire (a Go client refuses to send invalid UTF-8; Envoy can).
	badUTF8 bool
}

func httpAttrs(method, host, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Host: host, Path: path, Headers: headers},
	}}}
}

func withExt(r *authv3.CheckRequest, route string) *authv3.CheckRequest {
	r.Attributes.ContextExtensions = map[string]string{"route": route}
	return r
}

func hostileCases(t *testing.T) []hostileCase {
	const host = "orders.acme.example"
	auth := func(v string) map[string]string { return map[string]string{"authorization": v} }
	good := auth("Bearer good")
	huge := strings.Repeat("a", 1<<20)
	many := map[string]string{"authorization": "Bearer good"}
	for i := 0; i < 5000; i++ {
		many[fmt.Sprintf("x-h-%d", i)] = strings.Repeat("v", 20)
	}
	dup := httpAttrs("GET", host, "/orders", nil)
	dup.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "authorization", Value: "Bearer good"}, {Key: "authorization", Value: "Bearer good"}}}
	rawOnly := httpAttrs("GET", host, "/orders", nil)
	rawOnly.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "authorization", RawValue: []byte("Bearer good")}}}
	return append(hostileDPoPCases(t), []hostileCase{
		// Missing parts of the request.
		{"nil attributes", &authv3.CheckRequest{}, 400, "malformed_request", false},
		{"attributes without request", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{}}, 400, "malformed_request", false},
		{"request without http", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}, 400, "malformed_request", false},
		{"empty http", httpAttrs("", "", "", nil), 400, "malformed_request", false},
		{"no path", httpAttrs("GET", host, "", good), 400, "malformed_request", false},
		// Paths.
		{"asterisk path", httpAttrs("OPTIONS", host, "*", good), 400, "malformed_request", false},
		{"absolute-form path", httpAttrs("GET", host, "http://evil.example/orders", good), 400, "malformed_request", false},
		{"relative path", httpAttrs("GET", host, "orders", good), 400, "malformed_request", false},
		{"NUL in path", httpAttrs("GET", host, "/orders/\x00", good), 400, "malformed_request", false},
		{"newline in path", httpAttrs("GET", host, "/orders/\n/x", good), 400, "malformed_request", false},
		{"DEL in path", httpAttrs("GET", host, "/orders/\x7f", good), 400, "malformed_request", false},
		{"dot-dot", httpAttrs("GET", host, "/orders/../admin", good), 400, "malformed_request", false},
		{"dot", httpAttrs("GET", host, "/orders/./1", good), 400, "malformed_request", false},
		{"trailing dot-dot", httpAttrs("GET", host, "/orders/..", good), 400, "malformed_request", false},
		{"encoded dot-dot lower", httpAttrs("GET", host, "/orders/%2e%2e/admin", good), 400, "malformed_request", false},
		{"encoded dot-dot upper", httpAttrs("GET", host, "/orders/%2E%2E/admin", good), 400, "malformed_request", false},
		{"half encoded dot-dot", httpAttrs("GET", host, "/orders/.%2e/admin", good), 400, "malformed_request", false},
		{"encoded slash", httpAttrs("GET", host, "/orders%2F..%2Fadmin", good), 400, "malformed_request", false},
		{"encoded slash lower", httpAttrs("GET", host, "/orders%2f1", good), 400, "malformed_request", false},
		{"encoded backslash", httpAttrs("GET", host, "/orders%5C..%5Cadmin", good), 400, "malformed_request", false},
		{"backslash", httpAttrs("GET", host, "/orders\\..\\admin", good), 400, "malformed_request", false},
		{"dot-dot across merged slashes", httpAttrs("GET", host, "/orders//..//admin", good), 400, "malformed_request", false},
		{"broken percent escape", httpAttrs("GET", host, "/orders/%zz", good), 400, "malformed_request", false},
		{"truncated percent escape", httpAttrs("GET", host, "/orders/%4", good), 400, "malformed_request", false},
		{"dot-dot only in the query", httpAttrs("GET", host, "/orders?next=../../admin", good), 200, "allowed", false},
		{"encoded slash only in the query", httpAttrs("GET", host, "/orders?x=%2F", good), 200, "allowed", false},
		{"invalid UTF-8 in path", httpAttrs("GET", host, "/orders/é", good), 400, "malformed_request", true},
		{"overlong dot-dot in path", httpAttrs("GET", host, "/orders/é/admin", good), 400, "malformed_request", true},
		{"valid UTF-8 in path", httpAttrs("GET", host, "/orders/café", good), 200, "allowed", false},
		{"1 MiB path", httpAttrs("GET", host, "/orders/"+huge, good), 200, "allowed", false},
		{"double encoded dot-dot stays encoded", httpAttrs("GET", host, "/orders/%252e%252e/admin", good), 200, "allowed", false},
		{"dot-dot with parameters", httpAttrs("GET", host, "/orders/..;/admin", good), 400, "malformed_request", false},
		{"dot-dot with parameters out of a public route", httpAttrs("GET", host, "/healthz/..;/orders", nil), 400, "malformed_request", false},
		{"leading dot-dot with parameters", httpAttrs("GET", host, "/..;/orders", good), 400, "malformed_request", false},
		{"dot with parameters", httpAttrs("GET", host, "/orders/.;x/1", good), 400, "malformed_request", false},
		{"encoded dot-dot with parameters", httpAttrs("GET", host, "/orders/%2e%2e;/admin", good), 400, "malformed_request", false},
		{"encoded dot with a session parameter", httpAttrs("GET", host, "/orders/%2E;jsessionid=x/1", good), 400, "malformed_request", false},
		{"parameters on an ordinary segment", httpAttrs("GET", host, "/orders;jsessionid=x/1", good), 200, "allowed", false},
		// Hosts.
		{"empty host", httpAttrs("GET", "", "/orders", good), 403, "no_route", false},
		{"host with CRLF", httpAttrs("GET", host+"\r\nx: y", "/orders", good), 403, "no_route", false},
		{"host with invalid UTF-8", httpAttrs("GET", "é.acme.example", "/orders", good), 403, "no_route", true},
		{"1 MiB host", httpAttrs("GET", huge, "/orders", good), 403, "no_route", false},
		{"host with a huge port", httpAttrs("GET", "ORDERS.acme.example:99999", "/orders", good), 200, "allowed", false},
		{"unterminated IPv6 host", httpAttrs("GET", "[::1", "/orders", good), 403, "no_route", false},
		{"host with trailing dots", httpAttrs("GET", host+"..", "/orders", good), 403, "no_route", false},
		{"suffix lookalike host", httpAttrs("GET", "evilorders.acme.example", "/orders", good), 403, "no_route", false},
		{"KELVIN SIGN label under a wildcard (same suffix bytes)", httpAttrs("GET", "\u212A."+host, "/orders", good), 200, "allowed", false},
		{"non-ASCII uppercase letter is not folded", httpAttrs("GET", "ORDERS.ACME.EXAMPL\u00c9", "/orders", good), 403, "no_route", false},
		{"uppercase ASCII host", httpAttrs("GET", "ORDERS.ACME.EXAMPLE", "/orders", good), 200, "allowed", false},
		// Methods.
		{"empty method", httpAttrs("", host, "/orders", good), 403, "no_route", false},
		{"lowercase method", httpAttrs("get", host, "/orders", good), 200, "allowed", false},
		{"method with NUL", httpAttrs("G\x00ET", host, "/orders", good), 403, "no_route", false},
		{"1 MiB method", httpAttrs(huge, host, "/orders", good), 403, "no_route", false},
		{"LONG S method does not uppercase to POST", httpAttrs("po\u017Ft", host, "/orders", good), 403, "no_route", false},
		// Authorization.
		{"no headers at all", httpAttrs("GET", host, "/orders", nil), 401, "missing_token", false},
		{"empty authorization", httpAttrs("GET", host, "/orders", auth("")), 401, "missing_token", false},
		{"whitespace authorization", httpAttrs("GET", host, "/orders", auth(" \t ")), 401, "missing_token", false},
		{"digest scheme", httpAttrs("GET", host, "/orders", auth("Digest username=x")), 401, "missing_token", false},
		{"Bearer= glued", httpAttrs("GET", host, "/orders", auth("Bearer=good")), 401, "missing_token", false},
		{"scheme only", httpAttrs("GET", host, "/orders", auth("Bearer")), 400, "malformed_token", false},
		{"tab separator", httpAttrs("GET", host, "/orders", auth("Bearer\tgood")), 400, "malformed_token", false},
		{"leading comma", httpAttrs("GET", host, "/orders", auth(",Bearer good")), 401, "missing_token", false},
		{"two tokens", httpAttrs("GET", host, "/orders", auth("Bearer good, Bearer good")), 400, "malformed_token", false},
		{"NUL in token", httpAttrs("GET", host, "/orders", auth("Bearer go\x00od")), 400, "malformed_token", false},
		{"newline in token", httpAttrs("GET", host, "/orders", auth("Bearer go\nod")), 400, "malformed_token", false},
		{"invalid UTF-8 token", httpAttrs("GET", host, "/orders", auth("Bearer é")), 400, "malformed_token", true},
		{"invalid UTF-8 in another header", httpAttrs("GET", host, "/orders", map[string]string{"authorization": "Bearer good", "x-note": "é"}), 200, "allowed", true},
		{"8193-byte token", httpAttrs("GET", host, "/orders", auth("Bearer "+strings.Repeat("g", 8193))), 400, "malformed_token", false},
		{"1 MiB token", httpAttrs("GET", host, "/orders", auth("Bearer "+huge)), 400, "malformed_token", false},
		{"quote in token", httpAttrs("GET", host, "/orders", auth(`Bearer go"od`)), 400, "malformed_token", false},
		{"padding in the middle", httpAttrs("GET", host, "/orders", auth("Bearer go=od")), 400, "malformed_token", false},
		{"lowercase scheme", httpAttrs("GET", host, "/orders", auth("bearer good")), 200, "allowed", false},
		{"uppercase scheme, two spaces, trailing tab", httpAttrs("GET", host, "/orders", auth("BEARER  good\t")), 200, "allowed", false},
		{"duplicate headers in header_map", dup, 400, "malformed_token", false},
		{"raw_value header_map", rawOnly, 200, "allowed", false},
		{"capitalised key from a non-Envoy client", httpAttrs("GET", host, "/orders", map[string]string{"Authorization": "Bearer good"}), 200, "allowed", false},
		{"both key spellings", httpAttrs("GET", host, "/orders", map[string]string{"authorization": "Bearer good", "Authorization": "Bearer good"}), 400, "malformed_token", false},
		{"both key spellings, lowercase one empty", httpAttrs("GET", host, "/orders", map[string]string{"authorization": "", "AUTHORIZATION": "Bearer good"}), 400, "malformed_token", false},
		{"host header in two spellings", httpAttrs("GET", "", "/orders", map[string]string{"host": host, "Host": "api.globex.example", "authorization": "Bearer good"}), 400, "malformed_request", false},
		{"capitalised Host alone", httpAttrs("GET", "", "/orders", map[string]string{"Host": host, "authorization": "Bearer good"}), 200, "allowed", false},
		{"5000 headers", httpAttrs("GET", host, "/orders", many), 200, "allowed", false},
		// Route extension.
		{"empty route extension", withExt(httpAttrs("GET", host, "/orders", good), ""), 200, "allowed", false},
		{"unknown route extension", withExt(httpAttrs("GET", host, "/orders", good), "admin"), 403, "no_route", false},
		{"control bytes in route extension", withExt(httpAttrs("GET", host, "/orders", good), "orders-read\n"), 403, "no_route", false},
		{"extension naming a public route", withExt(httpAttrs("GET", host, "/admin", nil), "health"), 200, "public", false},
		{"path syntax beats the extension", withExt(httpAttrs("GET", host, "/../x", good), "health"), 400, "malformed_request", false},
	}...)
}

func TestHostileCheckRequests(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	cases := hostileCases(t)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := as.Total()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := h.send(ctx, c)
			if err != nil {
				t.Fatalf("gRPC error instead of a decision: %v", err)
			}
			status := 200
			if resp.GetStatus().GetCode() != 0 {
				status = int(resp.GetDeniedResponse().GetStatus().GetCode())
			} else if resp.GetOkResponse() == nil {
				t.Fatal("OK without ok_response")
			}
			if status != c.status || resp.GetStatus().GetMessage() != c.reason {
				t.Fatalf("got %d %q, want %d %q", status, resp.GetStatus().GetMessage(), c.status, c.reason)
			}
			if (c.status == 400 || c.reason == "no_route" || c.reason == "missing_token" || c.reason == "invalid_dpop_proof") && as.Total() != before {
				t.Error("the authorization server was called")
			}
		})
	}
	// The server is still up and answering.
	if a := h.check(t, orders("good")); !a.allow {
		t.Fatalf("after the hostile requests: %s", a.reason)
	}
}

// TestHostileMergedEncodings: a CheckRequest sent as two encodings one
// after the other is one message to protobuf (the later scalar wins, maps
// and lists merge); the server's own decoder leaves such messages to
// protobuf, so the check reads what any protobuf reader would.
func TestHostileMergedEncodings(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	const host = "orders.acme.example"
	good := map[string]string{"authorization": "Bearer good"}
	for _, tt := range []struct {
		name        string
		first, then *authv3.CheckRequest
		status      int
		reason      string
	}{
		{"token in the second", httpAttrs("GET", host, "/orders", nil), httpAttrs("", "", "", good), 200, "allowed"},
		{"path replaced by the second", httpAttrs("GET", host, "/orders", good), httpAttrs("", "", "/orders/../admin", nil), 400, "malformed_request"},
		{"route extension in the second", httpAttrs("GET", host, "/orders", good), withExt(httpAttrs("", "", "", nil), "admin"), 403, "no_route"},
		{"same key twice across the two", httpAttrs("GET", host, "/orders", map[string]string{"authorization": "Bearer nope"}), httpAttrs("", "", "", good), 200, "allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			first, err := proto.Marshal(tt.first)
			if err != nil {
				t.Fatal(err)
			}
			then, err := proto.Marshal(tt.then)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := testsupport.CheckBytes(ctx, h.conn, append(first, then...))
			if err != nil {
				t.Fatal(err)
			}
			status := 200
			if resp.GetStatus().GetCode() != 0 {
				status = int(resp.GetDeniedResponse().GetStatus().GetCode())
			}
			if status != tt.status || resp.GetStatus().GetMessage() != tt.reason {
				t.Errorf("got %d %q, want %d %q", status, resp.GetStatus().GetMessage(), tt.status, tt.reason)
			}
		})
	}
}

func TestHostileHTTPModeRequests(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	addr := h.srv.HTTPAddress()
	tests := []struct {
		name, raw string
		want      int
	}{
		{"authz alone", "GET /authz HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: Bearer good\r\n\r\n", 403},
		{"unclean path is judged, not redirected", "GET /authz/orders/../admin HTTP/1.1\r\nHost: orders.acme.example\r\n\r\n", 400},
		{"encoded dot-dot", "GET /authz/orders/%2e%2e/admin HTTP/1.1\r\nHost: orders.acme.example\r\n\r\n", 400},
		{"forwarded uri with dot-dot", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: /orders/../admin\r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"forwarded uri relative", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: orders\r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"forwarded allow", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: /orders/1\r\nAuthorization: Bearer good\r\n\r\n", 200},
		{"two authorization headers", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: Bearer good\r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"odd method", "FROBNICATE /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: Bearer good\r\n\r\n", 403},
		{"body is ignored", "POST /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: Bearer good\r\nX-Forwarded-Method: GET\r\nContent-Length: 11\r\n\r\nhello world", 200},
		{"forwarded uri twice", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: /healthz\r\nX-Forwarded-Uri: /orders\r\n\r\n", 400},
		{"forwarded uri twice in two spellings", "GET /authz HTTP/1.1\r\nHost: t\r\nx-forwarded-uri: /healthz\r\nX-FORWARDED-URI: /healthz\r\n\r\n", 400},
		{"forwarded host twice", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Host: api.globex.example\r\nX-Forwarded-Uri: /orders/1\r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"forwarded method twice", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Method: POST\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: /orders/1\r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"another family twice is not read", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Uri: /healthz\r\nX-Original-URI: /a\r\nX-Original-URI: /b\r\n\r\n", 200},
		{"authorization twice, first empty", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: \r\nAuthorization: Bearer good\r\n\r\n", 400},
		{"forwarded uri with dot-dot and parameters", "GET /authz HTTP/1.1\r\nHost: t\r\nX-Forwarded-Host: orders.acme.example\r\nX-Forwarded-Uri: /healthz/..;/orders\r\n\r\n", 400},
		{"path with dot-dot and parameters", "GET /authz/healthz/..;/orders HTTP/1.1\r\nHost: orders.acme.example\r\n\r\n", 400},
		{"DPoP scheme with a proof that is not a JWS", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: DPoP good\r\nDPoP: not-a-jws\r\n\r\n", 401},
		{"DPoP scheme without a proof", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: DPoP good\r\n\r\n", 401},
		{"two DPoP headers in two spellings", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nAuthorization: DPoP good\r\nDPoP: a.b.c\r\ndpop: a.b.c\r\n\r\n", 401},
		{"header block over the limit", "GET /authz/orders HTTP/1.1\r\nHost: orders.acme.example\r\nX-Big: " + strings.Repeat("b", 80<<10) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, tt.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufioReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// send delivers a hostile case, with invalid UTF-8 put on the wire by hand.
func (h *harness) send(ctx context.Context, c hostileCase) (*authv3.CheckResponse, error) {
	if !c.badUTF8 {
		return h.client.Check(ctx, c.req)
	}
	wire, err := proto.Marshal(c.req)
	if err != nil {
		return nil, err
	}
	return testsupport.CheckBytes(ctx, h.conn, bytes.ReplaceAll(wire, []byte("é"), []byte{0xff, 0xfe}))
}
