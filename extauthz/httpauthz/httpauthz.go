// Package httpauthz is the HTTP front end of tokengate's checks: Envoy's
// ext_authz http_service (path_prefix /authz) and forward-auth proxies
// (nginx auth_request, Traefik and Caddy forward auth). It is a thin
// adapter over the same check.Checker as the gRPC server.
package httpauthz

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/check"
)

// Prefix is the path under which every request is a check.
const Prefix = "/authz"

// Header families that name the checked request.
const (
	ForwardedXForwarded = "x-forwarded" // X-Forwarded-Method/-Host/-Uri (Traefik, Caddy)
	ForwardedXOriginal  = "x-original"  // X-Original-Method/-URI, host from Host (nginx)
	ForwardedNone       = "none"        // the request itself (Envoy http_service)
)

// HeadersToRemove is the response header that tells Envoy which request
// headers to strip before the upstream sees the request.
const HeadersToRemove = "x-envoy-auth-headers-to-remove"

// Options configures a Handler.
type Options struct {
	// ForwardedHeaders says which header family names the checked request;
	// only that family is read, since a client could send the others.
	ForwardedHeaders string
	// Propagator reads the checked request's trace context; nil: none.
	Propagator propagation.TextMapPropagator
}

// Handler answers checks. It is immutable and safe for concurrent use.
type Handler struct {
	checker *check.Checker
	opts    Options
}

// New returns a Handler deciding with checker.
func New(checker *check.Checker, o Options) *Handler {
	if o.ForwardedHeaders == "" {
		o.ForwardedHeaders = ForwardedXForwarded
	}
	return &Handler{checker: checker, opts: o}
}

// ForwardedHeaders is the header family h reads (Options.ForwardedHeaders,
// defaulted).
func (h *Handler) ForwardedHeaders() string { return h.opts.ForwardedHeaders }

// IsCheck reports whether r is a check: its raw path is /authz or under
// /authz/. The raw path is used so that no decoding or cleaning happens
// before the check itself judges the path.
func IsCheck(r *http.Request) bool {
	p := rawPath(r)
	return p == Prefix || strings.HasPrefix(p, Prefix+"/")
}

func rawPath(r *http.Request) string {
	uri := r.RequestURI
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

// ServeHTTP answers one check. The request body is never read.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := h.Request(r)
	out := h.checker.Check(h.traceParent(r), &req)
	write(w, &out)
}

// Request derives the checked request from an HTTP-mode request.
func (h *Handler) Request(r *http.Request) check.Request {
	req := check.Request{
		Method: r.Method,
		Host:   r.Host,
		Path:   checkedPath(r.RequestURI),
		// Several Authorization headers are comma-joined, and refused.
		Authorization:          strings.Join(r.Header.Values("Authorization"), ","),
		DuplicateAuthorization: len(r.Header.Values("Authorization")) > 1,
	}
	switch h.opts.ForwardedHeaders {
	case ForwardedXForwarded:
		m := override(&req.Method, r.Header, "X-Forwarded-Method")
		h := override(&req.Host, r.Header, "X-Forwarded-Host")
		p := override(&req.Path, r.Header, "X-Forwarded-Uri")
		req.Duplicated = m || h || p
	case ForwardedXOriginal:
		m := override(&req.Method, r.Header, "X-Original-Method")
		p := override(&req.Path, r.Header, "X-Original-URI")
		req.Duplicated = m || p
	}
	return req
}

// checkedPath cuts /authz from the front of the request URI (as Envoy's
// http_service path_prefix adds it): "/authz/orders?x" checks "/orders?x",
// "/authz" alone checks "/".
func checkedPath(uri string) string {
	rest := strings.TrimPrefix(uri, Prefix)
	if rest == "" || rest[0] == '?' {
		return "/" + rest
	}
	return rest
}

// override replaces *dst by the header's value when it is present, and
// reports whether it was sent more than once (net/http merges names that
// differ only in case): such a request is refused, since the proxy in front
// and the upstream may each read another copy.
func override(dst *string, h http.Header, name string) (duplicated bool) {
	v := h.Values(name)
	if len(v) > 0 {
		*dst = strings.Join(v, ",")
	}
	return len(v) > 1
}

// traceParent puts the check in the checked request's trace (traceparent
// or b3 headers), when it carries one.
func (h *Handler) traceParent(r *http.Request) context.Context {
	ctx := r.Context()
	if h.opts.Propagator == nil {
		return ctx
	}
	remote := h.opts.Propagator.Extract(context.Background(), joinedCarrier(r.Header))
	if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// joinedCarrier reads trace headers as the gRPC front end reads them (and
// as Envoy passes duplicates on): the copies of a header comma-joined, so a
// traceparent sent twice is invalid and the check joins neither trace.
type joinedCarrier http.Header

func (c joinedCarrier) Get(key string) string { return strings.Join(http.Header(c).Values(key), ",") }
func (c joinedCarrier) Set(key, value string) { http.Header(c).Set(key, value) }
func (c joinedCarrier) Keys() []string        { return propagation.HeaderCarrier(c).Keys() }

// write renders an outcome: an allow is 200 with an empty body, the claim
// headers and the headers to remove; a deny is the decision's status,
// challenge and JSON body.
func write(w http.ResponseWriter, out *check.Outcome) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	d := &out.Decision
	if d.Allow {
		for _, h := range out.Set {
			hdr.Set(h.Name, h.Value)
		}
		if len(out.Remove) > 0 {
			hdr.Set(HeadersToRemove, strings.Join(out.Remove, ","))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr.Set("Content-Type", "application/json")
	if c := d.Challenge(); c != "" {
		hdr.Set("WWW-Authenticate", c)
	}
	w.WriteHeader(d.Status)
	w.Write(d.Body())
}
