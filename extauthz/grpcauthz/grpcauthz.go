// Package grpcauthz is the Envoy ext_authz v3 gRPC front end: a thin adapter
// that turns a CheckRequest into a check.Request and a check.Outcome into a
// CheckResponse. Every deny is a CheckResponse, never a gRPC error.
package grpcauthz

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/metadata"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/httpsyntax"
)

// Server implements envoy.service.auth.v3.Authorization. Its only state is
// a cache of encoded allow responses; it is safe for concurrent use.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	checker      *check.Checker
	propagator   propagation.TextMapPropagator
	allowEntries int
	allows       atomic.Pointer[allowCache]
}

// Options configures a Server.
type Options struct {
	// Propagator reads trace context from gRPC metadata and from the
	// checked request's headers (W3C traceparent, b3); nil: none.
	Propagator propagation.TextMapPropagator
	// AllowCacheEntries bounds the cache of encoded allow responses (one
	// per cached token and route); default DefaultAllowCacheEntries.
	AllowCacheEntries int
}

// DefaultAllowCacheEntries is the default bound of a Server's cache of
// encoded allow responses: a few hundred bytes each, plus the claims they
// keep alive while the token cache may already have dropped them.
const DefaultAllowCacheEntries = 8192

// New returns a Server answering with checker.
func New(checker *check.Checker, o Options) *Server {
	n := o.AllowCacheEntries
	if n <= 0 {
		n = DefaultAllowCacheEntries
	}
	return &Server{checker: checker, propagator: o.Propagator, allowEntries: n}
}

// Check implements the ext_authz Check RPC for a CheckRequest protobuf
// decoded (Register's handler decodes most requests itself instead).
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	// Whether a header key has an uppercase letter is asked once: walking
	// the headers map is a good part of what the adapter costs.
	headers := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
	mixed := hasMixedCaseKey(headers)
	r := request(req, mixed)
	return s.check(ctx, &r, traceCarrier(headers, mixed)), nil
}

// traceCarrier is the headers map as traceParent reads it: by lowercase
// name (foldedHeaders when a key is not lowercase, mixed).
func traceCarrier(headers map[string]string, mixed bool) propagation.TextMapCarrier {
	if mixed {
		return propagation.MapCarrier(foldedHeaders(headers))
	}
	return propagation.MapCarrier(headers)
}

// check answers r; headers are the checked request's, for its trace
// context.
func (s *Server) check(ctx context.Context, r *check.Request, headers propagation.TextMapCarrier) *authv3.CheckResponse {
	snap := s.checker.Snapshot()
	out := s.checker.Check(s.traceParent(ctx, headers), r)
	return s.response(snap, &out)
}

// traceParent puts the check in the trace of the checked request: the gRPC
// call's trace context when its metadata carries one, else the checked
// request's own traceparent or b3 headers (read from headers, by lowercase
// name). Without either, the check starts a trace of its own.
func (s *Server) traceParent(ctx context.Context, headers propagation.TextMapCarrier) context.Context {
	if s.propagator == nil {
		return ctx
	}
	// Look the keys up first: most checks carry no trace context, and the
	// propagators are not free.
	if hasTraceKey(func(k string) bool { return len(metadata.ValueFromIncomingContext(ctx, k)) > 0 }) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if sc := trace.SpanContextFromContext(s.propagator.Extract(context.Background(), metadataCarrier(md))); sc.IsValid() {
				if trace.SpanContextFromContext(ctx).IsValid() {
					return ctx // otelgrpc's server span is already the child of it
				}
				return trace.ContextWithRemoteSpanContext(ctx, sc)
			}
		}
	}
	if !hasTraceKey(func(k string) bool { return headers.Get(k) != "" }) {
		return ctx
	}
	remote := s.propagator.Extract(context.Background(), headers)
	if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// hasTraceKey reports whether a W3C or b3 trace header is present.
func hasTraceKey(has func(string) bool) bool {
	return has("traceparent") || has("b3") || has("x-b3-traceid")
}

// metadataCarrier reads gRPC metadata as a propagation carrier.
type metadataCarrier metadata.MD

func (m metadataCarrier) Get(key string) string {
	if v := metadata.MD(m).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (m metadataCarrier) Set(key, value string) { metadata.MD(m).Set(key, value) }
func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// Request extracts the checked request from a CheckRequest. Missing parts
// are left empty, which the check denies.
func Request(req *authv3.CheckRequest) check.Request {
	return request(req, hasMixedCaseKey(req.GetAttributes().GetRequest().GetHttp().GetHeaders()))
}

// request is Request, told whether a key of the headers map has an
// uppercase letter (hasMixedCaseKey).
func request(req *authv3.CheckRequest, mixed bool) check.Request {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	r := newRequest(&requestFields{
		method:      h.GetMethod(),
		host:        h.GetHost(),
		path:        h.GetPath(),
		scheme:      h.GetScheme(),
		certificate: attrs.GetSource().GetCertificate(),
		route:       attrs.GetContextExtensions()["route"],
	}, protoHeaders{h: h, mixed: mixed})
	r.HeaderMap = h.GetHeaders()
	if raw := h.GetHeaderMap(); len(raw.GetHeaders()) > 0 {
		r.MoreHeaders = (*headerList)(raw)
	}
	return r
}

// requestFields are the fields of a CheckRequest a check reads, other than
// headers.
type requestFields struct {
	method, host, path string
	// scheme is for a DPoP proof's htu, certificate for certificate-bound
	// tokens (Envoy sends it with include_peer_certificate: true).
	scheme, certificate string
	route               string // the `route` context extension
}

// headerSource finds a checked request's headers: appendHeader appends
// the value of every copy of a header, by its lowercase name.
type headerSource interface {
	appendHeader(values []string, name string) []string
}

// newRequest is the check.Request of f and the headers of h, without the
// headers for `when` conditions. Missing parts are left empty, which the
// check denies.
func newRequest(f *requestFields, h headerSource) check.Request {
	r := check.Request{
		Method: f.method, Host: f.host, Path: f.path, RouteName: f.route,
		Scheme: f.scheme, Certificate: f.certificate,
	}
	for _, name := range []string{":authority", "host"} {
		if r.Host != "" {
			break
		}
		var n int
		r.Host, n = header(h, name)
		r.Duplicated = n > 1
	}
	var n int
	r.Authorization, n = header(h, "authorization")
	r.DuplicateAuthorization = n > 1
	r.DPoP = h.appendHeader(nil, "dpop") // several: refused by the check
	return r
}

// headerList is Envoy's header_map as a check.HeaderList: a pointer, so
// that putting it in a check.Request allocates nothing.
type headerList corev3.HeaderMap

func (l *headerList) Len() int { return len((*corev3.HeaderMap)(l).GetHeaders()) }

func (l *headerList) At(i int) (name, value string) {
	hv := (*corev3.HeaderMap)(l).GetHeaders()[i]
	return hv.GetKey(), headerValue(hv)
}

// headerValue is a header_map entry's value: Envoy puts it in raw_value
// (bytes) with encode_raw_headers, in value otherwise.
func headerValue(hv *corev3.HeaderValue) string {
	if v := hv.GetValue(); v != "" {
		return v
	}
	return string(hv.GetRawValue())
}

// header finds a request header by its lowercase name and says how many
// times it occurs (see appendHeader). Several values are comma-joined, as
// Envoy joins duplicate headers; the caller decides what a duplicate means.
func header(h headerSource, name string) (string, int) {
	var buf [2]string
	values := h.appendHeader(buf[:0], name)
	if len(values) == 1 {
		return values[0], 1
	}
	return strings.Join(values, ","), len(values)
}

// protoHeaders are the headers of a decoded CheckRequest: the headers map
// Envoy normally sends and header_map (encode_raw_headers). mixed says
// whether a key of the headers map has an uppercase ASCII letter
// (hasMixedCaseKey).
type protoHeaders struct {
	h     *authv3.AttributeContext_HttpRequest
	mixed bool
}

// appendHeader appends the value of every copy of a request header, by
// its lowercase name, in the headers map and in header_map. Names are
// compared ASCII-case-insensitively, so keys differing only in case (which
// Envoy never sends, but another client can) are the same header sent
// twice; without mixed-case keys an exact lookup finds every copy in the
// map.
func (p protoHeaders) appendHeader(values []string, name string) []string {
	h := p.h
	if p.mixed {
		for _, k := range sortedKeys(h.GetHeaders()) {
			if httpsyntax.EqualFold(k, name) {
				values = append(values, h.GetHeaders()[k])
			}
		}
	} else if v, ok := h.GetHeaders()[name]; ok {
		values = append(values, v)
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if httpsyntax.EqualFold(hv.GetKey(), name) {
			values = append(values, headerValue(hv))
		}
	}
	return values
}

// hasMixedCaseKey reports whether a key has an uppercase ASCII letter:
// only then can two keys name the same header.
func hasMixedCaseKey(headers map[string]string) bool {
	for k := range headers {
		if hasUpper(k) {
			return true
		}
	}
	return false
}

// sortedKeys returns the keys of m in order, so that joined duplicates
// come out the same way every time.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// foldedHeaders is headers with every key lowercased (ASCII only); keys
// that differ only in case are one header sent twice, their values
// comma-joined as Envoy joins duplicates (a traceparent sent twice is then
// invalid, and the check is put in neither trace).
func foldedHeaders(headers map[string]string) map[string]string {
	folded := make(map[string]string, len(headers))
	for _, k := range sortedKeys(headers) {
		lk := httpsyntax.ToLower(k)
		if prev, dup := folded[lk]; dup {
			folded[lk] = prev + "," + headers[k]
		} else {
			folded[lk] = headers[k]
		}
	}
	return folded
}
