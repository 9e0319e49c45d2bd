package check

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/policy"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/httpsyntax"
	"github.com/tokengate/tokengate/introspection"
)

// The route policy's steps in a check: the `when` conditions, after every
// other check passed (decideConditions), and shadow mode, which answers a
// route's would-be deny as an allow and reports it (shadow). Step-up
// (acr_values, max_age) is part of the pure decision.

// decideConditions evaluates the route's `when` conditions for a request
// every other check allowed: all true allows; false, an error or the cost
// limit denies 403 policy. An error is logged with the route and the
// expression (never the token: its token_id).
func (c *Checker) decideConditions(ctx context.Context, r *Route, req *Request, path string, claims *introspection.Claims, token string) decision.Decision {
	pr := policyRequest(r.Conditions.Uses(), req, path)
	in := policy.Input{Claims: claims, Request: &pr, Route: r.Rule.Name}
	if r.Tenant != nil {
		in.Tenant = r.Tenant.Name
	}
	v := r.Conditions.Eval(ctx, &in)
	if v.OK {
		return decision.Decision{Allow: true, Reason: decision.Allowed}
	}
	level, msg := slog.LevelDebug, "condition false"
	if v.Err != nil {
		level, msg = slog.LevelWarn, "condition failed"
	}
	if c.log.Enabled(ctx, level) {
		attrs := []slog.Attr{slog.String("tenant", in.Tenant), slog.String("route", in.Route),
			slog.String("expression", clip(r.Conditions.Source(v.Index))), slog.String("token_id", bearer.ID(token))}
		if v.Err != nil {
			attrs = append(attrs, slog.String("error", clip(v.Err.Error())))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		c.log.LogAttrs(ctx, level, msg, attrs...)
	}
	return decision.DenyPolicy()
}

// policyRequest is the request as conditions see it: method uppercase,
// host lowercase without port, path normalized (path; the policy package
// splits its segments when an expression reads them), and, when an
// expression reads them, the headers. A value, so that a check's
// evaluation allocates no Request.
func policyRequest(uses policy.Uses, req *Request, path string) policy.Request {
	pr := policy.Request{
		Method: httpsyntax.ToUpper(req.Method),
		Host:   routing.NormalizeHost(req.Host),
		Path:   path,
	}
	if uses.Headers {
		pr.Headers = policyHeaders(req)
	}
	return pr
}

// credentialHeaders never reach a condition.
func credentialHeader(name string) bool {
	return name == "authorization" || name == "dpop" || name == "cookie"
}

// policyHeaders are the request's headers by lowercase name, without the
// credentials; the values of a header sent several times (or under names
// differing in case, or in both HeaderMap and MoreHeaders) are
// comma-joined, in a stable order.
func policyHeaders(req *Request) map[string]string {
	more := 0
	if req.MoreHeaders != nil {
		more = req.MoreHeaders.Len()
	}
	m := make(map[string]string, len(req.HeaderMap)+more+len(req.Headers))
	add := func(name, value string) {
		name = httpsyntax.ToLower(name)
		if credentialHeader(name) {
			return
		}
		if prev, ok := m[name]; ok {
			value = prev + "," + value
		}
		m[name] = value
	}
	for _, k := range slices.Sorted(maps.Keys(req.HeaderMap)) {
		add(k, req.HeaderMap[k])
	}
	for i := range more {
		add(req.MoreHeaders.At(i))
	}
	for _, k := range slices.Sorted(maps.Keys(req.Headers)) {
		add(k, strings.Join(req.Headers[k], ","))
	}
	return m
}

// shadow answers out's deny, on a route in shadow mode, as an allow: the
// claim headers from the claims when they are known (every claim header
// removed otherwise), the would-be deny kept in out.Shadowed and logged as
// "shadow deny" with the fields of a deny line.
func (c *Checker) shadow(ctx context.Context, s *Snapshot, req *Request, out *Outcome) {
	if out.Route == "" {
		return
	}
	i, ok := s.table.Lookup(out.Route)
	if !ok {
		return
	}
	r := &s.routes[i]
	if !r.Shadow || r.Tenant == nil {
		return
	}
	out.Shadowed, out.Decision = out.Decision, decision.AllowShadow()
	if out.Claims != nil {
		out.Set, out.Remove = r.Tenant.Headers.Apply(out.Claims)
		out.Metadata = Metadata{Tenant: r.Tenant.Name, Route: out.Route, Subject: out.Claims.Subject,
			ClientID: out.Claims.ClientID, Scope: out.Claims.ScopeString()}
	} else {
		out.Set, out.Remove = nil, r.shadowRemove
		out.Metadata = Metadata{Tenant: r.Tenant.Name, Route: out.Route}
	}
	if out.TokenID == "" {
		out.TokenID = presentedTokenID(req)
	}
	c.logDecision(ctx, slog.LevelInfo, "shadow deny", req, out, &out.Shadowed)
}

// shadowRemove is what a shadow allow without claims removes: every
// header the tenant's claim headers may set (and Authorization and DPoP
// when it strips them), as an allow whose claims hold none of them.
func shadowRemove(t *Tenant) []string {
	if t.Headers == nil {
		return nil
	}
	_, remove := t.Headers.Apply(&introspection.Claims{})
	return remove
}
