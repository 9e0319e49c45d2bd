// Package httpauthz is the HTTP front end of tokengate's checks: Envoy's
// ext_authz http_service (path_prefix /authz) and forward-auth proxies
// (nginx auth_request, Traefik and Caddy forward auth). It is a thin
// adapter over the same check.Checker as the gRPC server.
package httpauthz

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/internal/memo"
	"github.com/tokengate/tokengate/introspection"
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

// Request header names read besides the forwarded family's, canonical.
const (
	dpopKey           = "Dpop"              // RFC 9449 proofs
	forwardedProtoKey = "X-Forwarded-Proto" // x-forwarded family: the scheme of htu
)

// Options configures a Handler.
type Options struct {
	// ForwardedHeaders says which header family names the checked request;
	// only that family is read, since a client could send the others.
	ForwardedHeaders string
	// Propagator reads the checked request's trace context; nil: none.
	Propagator propagation.TextMapPropagator
	// AllowCacheEntries bounds the cache of rendered allow headers (one
	// per cached token and route); default DefaultAllowCacheEntries.
	AllowCacheEntries int
}

// DefaultAllowCacheEntries is the default bound of a Handler's cache of
// rendered allow headers: a few slices each, plus the claims they keep
// alive while the token cache may already have dropped them.
const DefaultAllowCacheEntries = 8192

// Handler answers checks. Its settings are immutable; its only state is a
// cache of rendered allow headers. It is safe for concurrent use.
type Handler struct {
	checker *check.Checker
	opts    Options
	// The canonical names (as net/http keys request headers) of the
	// forwarded family's method, host and path headers; "": not read.
	fwdMethod, fwdHost, fwdPath string
	// traceKeys are the canonical names of the headers a trace context
	// may arrive in: without any of them the propagator is not asked.
	traceKeys    []string
	allowEntries int
	allows       atomic.Pointer[allowCache]
}

// New returns a Handler deciding with checker.
func New(checker *check.Checker, o Options) *Handler {
	if o.ForwardedHeaders == "" {
		o.ForwardedHeaders = ForwardedXForwarded
	}
	h := &Handler{checker: checker, opts: o, allowEntries: o.AllowCacheEntries}
	if h.allowEntries <= 0 {
		h.allowEntries = DefaultAllowCacheEntries
	}
	switch o.ForwardedHeaders {
	case ForwardedXForwarded:
		h.fwdMethod, h.fwdHost, h.fwdPath = "X-Forwarded-Method", "X-Forwarded-Host", "X-Forwarded-Uri"
	case ForwardedXOriginal:
		h.fwdMethod, h.fwdPath = "X-Original-Method", "X-Original-Uri"
	}
	if o.Propagator != nil {
		h.traceKeys = traceKeys(o.Propagator)
	}
	return h
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
	snap := h.checker.Snapshot()
	out := h.checker.Check(h.traceParent(r), &req)
	h.write(w, snap, &out)
}

// Request derives the checked request from an HTTP-mode request.
func (h *Handler) Request(r *http.Request) check.Request {
	req := check.Request{
		Method: r.Method,
		Host:   r.Host,
		Path:   checkedPath(r.RequestURI),
	}
	// Several Authorization headers are comma-joined, and refused.
	var n int
	req.Authorization, n = header(r.Header, "Authorization")
	req.DuplicateAuthorization = n > 1
	// DPoP proofs (several: refused by the check), and the headers for a
	// tenant's certificate_header.
	req.DPoP, req.Headers = r.Header[dpopKey], r.Header
	// The scheme of a DPoP proof's htu: X-Forwarded-Proto when that family
	// names the checked request (sent twice, the joined value matches no
	// htu), else https; a tenant's origin overrides both.
	if h.opts.ForwardedHeaders == ForwardedXForwarded {
		req.Scheme, _ = header(r.Header, forwardedProtoKey)
	}
	// Only the configured family is read (its names are "" otherwise).
	m := override(&req.Method, r.Header, h.fwdMethod)
	o := override(&req.Host, r.Header, h.fwdHost)
	p := override(&req.Path, r.Header, h.fwdPath)
	req.Duplicated = m || o || p
	return req
}

// header is the value of the header with canonical name key (net/http
// canonicalizes the names of the requests it reads, merging names that
// differ only in case), its copies comma-joined, and how many there were.
// A direct lookup: Header.Values would canonicalize key again.
func header(h http.Header, key string) (string, int) {
	v := h[key]
	switch len(v) {
	case 0:
		return "", 0
	case 1:
		return v[0], 1
	}
	return strings.Join(v, ","), len(v)
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

// override replaces *dst by the value of the header with canonical name
// key ("": none) when it is present, and reports whether it was sent more
// than once (net/http merges names that differ only in case): such a
// request is refused, since the proxy in front and the upstream may each
// read another copy.
func override(dst *string, h http.Header, key string) (duplicated bool) {
	if key == "" {
		return false
	}
	v, n := header(h, key)
	if n > 0 {
		*dst = v
	}
	return n > 1
}

// traceKeys are the canonical names of the headers p may read a trace
// context from: the W3C and b3 (single and multiple) headers, which the
// b3 propagator reads whatever its Fields say, and p's own Fields.
func traceKeys(p propagation.TextMapPropagator) []string {
	var keys []string
	for _, k := range append([]string{"traceparent", "b3", "x-b3-traceid"}, p.Fields()...) {
		if k = http.CanonicalHeaderKey(k); !containsString(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// traceParent puts the check in the checked request's trace (traceparent
// or b3 headers), when it carries one.
func (h *Handler) traceParent(r *http.Request) context.Context {
	ctx := r.Context()
	if h.opts.Propagator == nil {
		return ctx
	}
	// Look the keys up first: most checks carry no trace context, and the
	// propagators are not free (each allocates a context or two).
	present := false
	for _, k := range h.traceKeys {
		if _, present = r.Header[k]; present {
			break
		}
	}
	if !present {
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

// Response header names, canonical (as Header.Set would make them), and
// the values that never change. The values are shared by every response:
// net/http only reads them (it copies the header map when the status is
// written), and their capacity is their length, so an append copies.
const (
	cacheControlKey    = "Cache-Control"
	contentTypeKey     = "Content-Type"
	wwwAuthenticateKey = "Www-Authenticate"
	headersToRemoveKey = "X-Envoy-Auth-Headers-To-Remove" // HeadersToRemove
)

var (
	noStore         = []string{"no-store"}
	applicationJSON = []string{"application/json"}
)

// rendered is the response headers of an allow, in the order they are
// set (a later one of the same name wins): names canonical, each value a
// one-element slice ready to be assigned.
type rendered struct {
	keys []string
	vals [][]string
}

// render prepares out's allow headers: its claim headers, then
// x-envoy-auth-headers-to-remove listing the headers to strip (lowercase
// names joined by ","), when there are any.
func render(out *check.Outcome) *rendered {
	n := len(out.Set) + 1
	r := &rendered{keys: make([]string, 0, n), vals: make([][]string, 0, n)}
	for _, h := range out.Set {
		r.keys = append(r.keys, http.CanonicalHeaderKey(h.Name))
		r.vals = append(r.vals, []string{h.Value})
	}
	if len(out.Remove) > 0 {
		r.keys = append(r.keys, headersToRemoveKey)
		r.vals = append(r.vals, []string{strings.Join(out.Remove, ",")})
	}
	return r
}

// allowCache holds the rendered allow headers of one snapshot's routes.
// What an allow renders depends only on the claims it was decided on and
// the route (which fixes the tenant and its header settings), and the
// token cache hands out the same *Claims for as long as it keeps an
// answer, so the pair is the key (check.Outcome's Claims and RouteRef).
type allowCache struct {
	// snap is the snapshot the keys' routes belong to. A reload starts a
	// new cache, so that entries keyed by the old routes do not keep the
	// old snapshot, and its tenants' token caches, alive.
	snap    *check.Snapshot
	entries *memo.Cache[allowKey, *rendered]
	// public is the last allow rendered without claims (a public route:
	// no headers set, the snapshot's list of headers to remove), kept
	// with the list it was rendered from.
	public atomic.Pointer[publicAllow]
}

type publicAllow struct {
	remove []string
	r      *rendered
}

// sameSlice reports whether a and b are the very same slice (the same
// array, length and start): then their elements are equal too.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

type allowKey struct {
	claims *introspection.Claims
	route  *check.Route
}

// allowHeaders is render(out), from the allow cache when out was decided
// on claims. snap is the snapshot in use when the check started.
func (h *Handler) allowHeaders(snap *check.Snapshot, out *check.Outcome) *rendered {
	byClaims := out.Claims != nil && out.RouteRef != nil
	if !byClaims && len(out.Set) > 0 {
		return render(out) // no such allow today; nothing to key it by
	}
	key := allowKey{claims: out.Claims, route: out.RouteRef}
	c := h.allows.Load()
	if c != nil && c.snap == snap {
		if byClaims {
			if r, ok := c.entries.Load(key); ok {
				return r
			}
		} else if p := c.public.Load(); p != nil && sameSlice(p.remove, out.Remove) {
			return p.r
		}
	}
	r := render(out)
	if h.checker.Snapshot() != snap {
		return r // a reload during the check: out's route may be another snapshot's
	}
	if c == nil || c.snap != snap {
		fresh := &allowCache{snap: snap, entries: memo.New[allowKey, *rendered](h.allowEntries)}
		if !h.allows.CompareAndSwap(c, fresh) {
			return r // another check started it: the next allow fills it
		}
		c = fresh
	}
	if byClaims {
		c.entries.Store(key, r)
	} else {
		c.public.Store(&publicAllow{remove: out.Remove, r: r})
	}
	return r
}

// write renders an outcome: an allow is 200 with an empty body, the claim
// headers and the headers to remove; a deny is the decision's status,
// challenge and JSON body. Headers are assigned to the map directly, with
// canonical names and prepared values, instead of through Header.Set,
// which would canonicalize each name and allocate each value again.
func (h *Handler) write(w http.ResponseWriter, snap *check.Snapshot, out *check.Outcome) {
	hdr := w.Header()
	hdr[cacheControlKey] = noStore
	d := &out.Decision
	if d.Allow {
		r := h.allowHeaders(snap, out)
		for i, k := range r.keys {
			hdr[k] = r.vals[i]
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr[contentTypeKey] = applicationJSON
	if c := d.Challenge(); c != "" {
		hdr[wwwAuthenticateKey] = []string{c}
	}
	w.WriteHeader(d.Status)
	_, _ = w.Write(d.Body()) // a client gone away is nobody's to tell
}
