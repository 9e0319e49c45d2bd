// Package grpcauthztest speaks Envoy's side of the ext_authz v3 gRPC API
// in tests: Request builds the CheckRequest Envoy sends for an HTTP
// request, and ParseAnswer reads a CheckResponse in HTTP terms, checking
// the shape Envoy relies on. The in-process tests, the real
// authorization-server harness and the black-box suite (e2e) share it.
package grpcauthztest

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// Request is an HTTP request as Envoy describes it in a CheckRequest.
type Request struct {
	// Method is "GET" when "".
	Method, Host, Path string
	// Scheme and Protocol (Envoy sets "https", "HTTP/1.1") are left out
	// when "".
	Scheme, Protocol string
	// Headers are the request's headers (lowercase names), besides the
	// :authority, :method and :path that Proto adds.
	Headers map[string]string
	// Extensions are the route's context_extensions; nil: none.
	Extensions map[string]string
	// Certificate is the client certificate Envoy forwards with
	// include_peer_certificate: true (attributes.source.certificate, a
	// URL-encoded PEM); "": none.
	Certificate string
	// RawHeaders sends the headers as Envoy does with encode_raw_headers:
	// in header_map, as raw_value bytes, the headers map left empty.
	RawHeaders bool
}

// Proto is the CheckRequest for r.
func (r Request) Proto() *authv3.CheckRequest {
	if r.Method == "" {
		r.Method = "GET"
	}
	headers := map[string]string{":authority": r.Host, ":method": r.Method, ":path": r.Path}
	for k, v := range r.Headers {
		headers[k] = v
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: r.Method, Host: r.Host, Path: r.Path, Headers: headers, Scheme: r.Scheme, Protocol: r.Protocol,
		}},
		ContextExtensions: r.Extensions,
	}}
	if r.RawHeaders {
		http := req.Attributes.Request.Http
		hm := &corev3.HeaderMap{}
		for _, k := range slices.Sorted(maps.Keys(http.Headers)) {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(http.Headers[k])})
		}
		http.Headers, http.HeaderMap = nil, hm
	}
	if r.Certificate != "" {
		req.Attributes.Source = &authv3.AttributeContext_Peer{Certificate: r.Certificate}
	}
	return req
}

// Answer is a CheckResponse in HTTP terms.
type Answer struct {
	Allow     bool
	Status    int               // 200 for an allow
	Reason    string            // the status message: tokengate's reason
	Challenge string            // WWW-Authenticate of a deny
	Body      map[string]string // JSON body of a deny
	Set       map[string]string // headers set by an allow (lowercase names)
	Remove    []string          // headers_to_remove of an allow
	Meta      map[string]string // dynamic metadata (string fields)
	Resp      *authv3.CheckResponse
}

// ParseAnswer reads resp and fails t unless it has the shape Envoy relies
// on: an allow is an OK status with an ok_response whose headers overwrite;
// a deny is another status with a denied_response carrying a JSON body
// (application/json) with error and error_description.
func ParseAnswer(t testing.TB, resp *authv3.CheckResponse) Answer {
	t.Helper()
	a := Answer{Resp: resp, Reason: resp.GetStatus().GetMessage(), Set: map[string]string{}, Meta: map[string]string{}}
	for k, v := range resp.GetDynamicMetadata().GetFields() {
		a.Meta[k] = v.GetStringValue()
	}
	if resp.GetStatus().GetCode() == int32(codes.OK) {
		ok := resp.GetOkResponse()
		if ok == nil || resp.GetDeniedResponse() != nil {
			t.Fatalf("status OK without ok_response (or with a denied_response): %v", resp)
		}
		a.Allow, a.Status = true, 200
		for _, h := range ok.GetHeaders() {
			if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("allow header %s: append_action %v, want OVERWRITE_IF_EXISTS_OR_ADD", h.GetHeader().GetKey(), h.GetAppendAction())
			}
			a.Set[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
		}
		a.Remove = ok.GetHeadersToRemove()
		return a
	}
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatalf("non-OK status %d without denied_response", resp.GetStatus().GetCode())
	}
	a.Status = int(d.GetStatus().GetCode())
	contentType := ""
	for _, h := range d.GetHeaders() {
		switch strings.ToLower(h.GetHeader().GetKey()) {
		case "www-authenticate":
			a.Challenge = h.GetHeader().GetValue()
		case "content-type":
			contentType = h.GetHeader().GetValue()
		}
	}
	if contentType != "application/json" {
		t.Errorf("deny %d: content-type %q, want application/json", a.Status, contentType)
	}
	if err := json.Unmarshal([]byte(d.GetBody()), &a.Body); err != nil {
		t.Fatalf("deny %d: body %q is not a JSON object of strings: %v", a.Status, d.GetBody(), err)
	}
	if a.Body["error"] == "" || a.Body["error_description"] == "" {
		t.Errorf("deny %d: body %q lacks error or error_description", a.Status, d.GetBody())
	}
	return a
}
