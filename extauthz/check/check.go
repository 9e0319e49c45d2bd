package check

import (
	"context"

	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
)

// Request is the checked HTTP request, as the front end saw it.
type Request struct {
	Method string
	Host   string // :authority or Host, port allowed
	Path   string // raw path with query string
	// Authorization is the header value ("" when absent). Several headers
	// must arrive comma-joined, so that they are refused.
	Authorization string
	// RouteName is Envoy's `route` context extension; "" counts as absent.
	RouteName string
	// Duplicated is set by a front end that received a header naming the
	// checked request (a forwarded method, host or path; gRPC: the host
	// header it read) more than once: no single reading of it is safe, so
	// the check is denied 400 malformed_request before anything else.
	Duplicated bool
	// DuplicateAuthorization is set when Authorization arrived more than
	// once (gRPC: keys differing only in case, or several header_map
	// entries): the token is malformed (400), whatever the copies hold.
	DuplicateAuthorization bool
	// DPoP holds the value of every DPoP header (RFC 9449), one element
	// per header the front end received (gRPC: keys differing only in case
	// are several headers); nil: none. More than one is refused.
	DPoP []string
	// Scheme is the checked request's scheme for a DPoP proof's htu
	// ("http" or "https"; "": https), unless the tenant has an origin.
	Scheme string
	// Certificate is the client certificate as Envoy forwards it (gRPC:
	// attributes.source.certificate, a URL-encoded PEM); "": none.
	Certificate string
	// Headers, set by the HTTP front end, are the request's headers (keys
	// canonical, read only): the client certificate then comes from the
	// tenant's certificate_header instead of Certificate.
	Headers map[string][]string
	// HeaderMap, set by the gRPC front end, are the request's headers as
	// Envoy sent them (keys lowercase; read only), for `when` conditions.
	HeaderMap map[string]string
	// MoreHeaders, set by the gRPC front end when Envoy also sent
	// header_map (encode_raw_headers), are those headers, in order, for
	// `when` conditions; nil: none. Read only when a route has
	// conditions, so no check copies them otherwise.
	MoreHeaders HeaderList
}

// HeaderList is a read-only list of request headers. Implementations must
// be safe for concurrent reads.
type HeaderList interface {
	Len() int
	At(i int) (name, value string)
}

// Outcome is the result of one check, ready for a front end to render.
type Outcome struct {
	Decision decision.Decision
	Tenant   string // "" before a route is found, or for a tenant-less public route
	Route    string
	// Set and Remove are the upstream header changes of an allow.
	Set    []claimheaders.Header
	Remove []string
	// TokenID identifies a syntactically valid token in logs ("" otherwise).
	TokenID string
	Cache   introspection.CacheStatus
	// Path says what gave the claims (or refused the token): the cache,
	// the local JWT checks or the authorization server; PathNone when no
	// claims were looked for.
	Path Path
	// IntrospectionTime is how long getting the claims took (cache included).
	IntrospectionTime time.Duration
	Metadata          Metadata
	// Shadowed is the deny a route in shadow mode answered as this
	// allow (Decision then has reason shadow); Reason "" otherwise.
	Shadowed decision.Decision
	// Claims (shared, read-only) and RouteRef (the route within its
	// snapshot) are set whenever the decision was made on the token's
	// claims (an allow, or a deny such as audience or insufficient_scope):
	// `tokengate check --explain` compares them with the route's policy.
	// What a front end renders from an allow depends on nothing else, and
	// both stay the same objects while the token is cached and the snapshot
	// in use, so the pair may key a cache of rendered allows (grpcauthz).
	Claims   *introspection.Claims
	RouteRef *Route
	// Err is why the claims could not be had (reason introspection_error):
	// the authorization server's status and OAuth error, the transport
	// failure, or no JWKS; or which local JWT check refused the token. Its
	// text is the cause logged at warn (never a token or secret); it is
	// for operators (`tokengate check`), never for clients.
	Err error
}

// Metadata is what an allow passes on as Envoy dynamic metadata.
type Metadata struct {
	Tenant, Route, Subject, ClientID, Scope string
}

// Options configures a Checker.
type Options struct {
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now; tests pin the clock
	// Tracer makes one span per check, a child of whatever span context the
	// front end put in ctx (default: no spans).
	Tracer trace.Tracer
	// SpansOnlyInTraces starts a span only for checks already in a trace.
	// Set it when spans are not exported: a span of a new trace would then
	// be seen by nobody, while one in an existing trace still gives the
	// logs and the authorization server ids of that trace.
	SpansOnlyInTraces bool
	// Observer is told every outcome (metrics); default: nobody.
	Observer Observer
	// Revocations are the revocation markers of pushed events (revoked.go);
	// nil: none.
	Revocations Revocations
}

// Observer is told the outcome of every check. Implementations must be
// safe for concurrent use. out is passed by value so that it stays on
// the caller's stack.
type Observer interface {
	Decided(ctx context.Context, out Outcome)
}

// Checker runs checks against the current Snapshot. It is safe for
// concurrent use; Swap replaces the snapshot for checks that start later,
// while checks in flight finish on the one they began with.
type Checker struct {
	snap              atomic.Pointer[Snapshot]
	log               *slog.Logger
	now               func() time.Time
	tracer            trace.Tracer
	spansOnlyInTraces bool
	observer          Observer
	revocations       Revocations
}

// New returns a Checker serving s.
func New(s *Snapshot, o Options) *Checker {
	c := &Checker{log: o.Logger, now: o.Now, tracer: o.Tracer, observer: o.Observer, spansOnlyInTraces: o.SpansOnlyInTraces,
		revocations: o.Revocations}
	if c.tracer == nil {
		c.tracer = noop.NewTracerProvider().Tracer("")
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.snap.Store(s)
	return c
}

// Swap installs s for new checks and returns the previous snapshot.
func (c *Checker) Swap(s *Snapshot) *Snapshot { return c.snap.Swap(s) }

// Snapshot returns the snapshot new checks use.
func (c *Checker) Snapshot() *Snapshot { return c.snap.Load() }

// Check decides one request. It never fails: every problem is a deny.
func (c *Checker) Check(ctx context.Context, req *Request) Outcome {
	span := trace.SpanFromContext(ctx)
	if !c.spansOnlyInTraces || span.SpanContext().IsValid() {
		ctx, span = c.tracer.Start(ctx, "tokengate.check")
		defer span.End()
	}
	snap := c.snap.Load()
	out := c.decide(ctx, snap, req)
	if snap.hasShadow && decision.Shadowable(out.Decision) {
		c.shadow(ctx, snap, req, &out) // policy.go
	}
	if span.IsRecording() {
		annotate(span, &out)
	}
	if c.observer != nil {
		c.observer.Decided(ctx, out)
	}
	c.logOutcome(ctx, req, &out)
	return out
}

// annotate puts the outcome on the check's span. It is a function of its
// own, called only for a recording span, so that its attributes do not
// weigh on Check's stack frame: the cached allow path then needs less
// goroutine stack (a stack grown mid-check is copied, a cost per RPC).
//
//go:noinline
func annotate(span trace.Span, out *Outcome) {
	decisionWord := "deny"
	if out.Decision.Allow {
		decisionWord = "allow"
	}
	span.SetAttributes(
		attribute.String("tokengate.tenant", out.Tenant),
		attribute.String("tokengate.route", out.Route),
		attribute.String("tokengate.decision", decisionWord),
		attribute.String("tokengate.reason", string(out.Decision.Reason)),
		attribute.String("tokengate.cache", string(out.Cache)),
	)
	// A deny is the service working; only failing to get an answer is an error.
	if out.Decision.Reason == decision.IntrospectionError {
		span.SetStatus(codes.Error, "introspection failed")
	}
}

func (c *Checker) decide(ctx context.Context, s *Snapshot, req *Request) Outcome {
	out := Outcome{Cache: introspection.CacheNone}
	if req.Duplicated {
		out.Decision = decision.DenyDuplicatedHeader()
		out.TokenID = presentedTokenID(req)
		return out
	}
	path, ok := routing.NormalizePath(req.Path)
	if !ok {
		out.Decision = decision.DenyMalformedRequest()
		out.TokenID = presentedTokenID(req)
		return out
	}
	i, ok := c.findRoute(s, req, path)
	if !ok {
		out.Decision = decision.DenyNoRoute()
		out.TokenID = presentedTokenID(req)
		return out
	}
	route := &s.routes[i]
	out.Route = route.Rule.Name
	if route.Tenant != nil {
		out.Tenant = route.Tenant.Name
	}
	if route.Public {
		out.Decision = decision.AllowPublic()
		out.Remove = s.publicRemove
		out.Metadata = Metadata{Tenant: out.Tenant, Route: out.Route} // no claims: no token was read
		return out
	}
	tenant := route.Tenant
	if tenant == nil { // config validation prevents it; fail closed anyway
		out.Decision = decision.DenyNoRoute()
		return out
	}
	token, scheme, syntax := bearer.Parse(req.Authorization)
	if req.DuplicateAuthorization {
		token, syntax = "", bearer.Malformed
	}
	switch syntax {
	case bearer.Missing:
		out.Decision = decision.DenyMissingToken(&route.Policy)
		return out
	case bearer.Malformed:
		out.Decision = decision.DenyMalformedToken(tenant.Name)
		return out
	}
	// The proof's form comes before introspection: a malformed one never
	// lets the token reach the authorization server.
	b, ok := c.verifyProof(tenant, &route.Policy, req, token, scheme, &out)
	if !ok {
		return out
	}
	start := time.Now()
	res, err := c.introspect(ctx, tenant, token)
	out.IntrospectionTime = time.Since(start)
	out.Cache = res.Cache
	out.Path = pathOf(tenant, token, res.Cache, err)
	if err != nil {
		// The local JWT checks (below the cache, before introspection)
		// refused the token: a 401 of the client's, not a server error.
		if d, ok := localDeny(tenant.Name, err); ok {
			out.Decision, out.Err = d, err
			out.TokenID = bearer.ID(token)
			return out
		}
		out.Decision = decision.DenyIntrospectionError()
		out.Err = err
		out.TokenID = bearer.ID(token)
		c.logIntrospectionFailure(ctx, tenant.Name, &out, err)
		return out
	}
	out.Decision = c.decideBound(ctx, tenant, route, req, res.Claims, token, b, &out)
	if out.Decision.Allow && route.Conditions != nil { // `when` is checked last (policy.go)
		out.Decision = c.decideConditions(ctx, route, req, path, res.Claims, token)
	}
	// token_id is for logs only: skip the hashing on allows nobody logs.
	if !out.Decision.Allow || c.log.Enabled(ctx, slog.LevelDebug) {
		out.TokenID = bearer.ID(token)
	}
	out.Claims, out.RouteRef = res.Claims, route
	if out.Decision.Allow {
		out.Set, out.Remove = tenant.Headers.Apply(res.Claims)
		out.Metadata = Metadata{
			Tenant: tenant.Name, Route: out.Route,
			Subject: res.Claims.Subject, ClientID: res.Claims.ClientID, Scope: res.Claims.ScopeString(),
		}
	}
	return out
}

// logIntrospectionFailure logs why a check could not get its claims (at
// warn). A function of its own, like annotate, so that its attributes do
// not weigh on decide's stack frame.
//
//go:noinline
func (c *Checker) logIntrospectionFailure(ctx context.Context, tenant string, out *Outcome, err error) {
	attrs := []slog.Attr{slog.String("tenant", tenant), slog.String("route", out.Route),
		slog.String("token_id", out.TokenID), slog.String("error", err.Error())}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "introspection failed", attrs...)
}

// presentedTokenID is the token_id of a well-formed bearer token, for the
// log line of a deny decided before the token is looked at ("" otherwise).
func presentedTokenID(req *Request) string {
	if req.DuplicateAuthorization {
		return ""
	}
	if token, _, syntax := bearer.Parse(req.Authorization); syntax == bearer.OK {
		return bearer.ID(token)
	}
	return ""
}

func (c *Checker) findRoute(s *Snapshot, req *Request, path string) (int, bool) {
	if req.RouteName != "" {
		return s.table.Lookup(req.RouteName)
	}
	return s.table.Match(req.Host, path, req.Method)
}

// introspect asks the tenant's introspector (the cache, in production: its
// shared calls are bounded by the tenant's timeout, so even a caller
// without a deadline of its own never waits longer than that).
func (c *Checker) introspect(ctx context.Context, t *Tenant, token string) (introspection.Result, error) {
	res, err := t.Introspector.Introspect(ctx, token)
	if err == nil && res.Claims == nil {
		err = fmt.Errorf("%w: no claims in the answer", introspection.ErrIntrospection) // never trust an empty answer
	}
	if res.Cache == "" {
		res.Cache = introspection.CacheNone
	}
	return res, err
}
