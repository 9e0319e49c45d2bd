package check

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/extauthz/certbind"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/introspection"
)

// Sender-constrained tokens (RFC 9449 DPoP, RFC 8705 certificate binding):
// the proof's form before introspection (verifyProof), the binding after
// it (decideBound: decision.Decide with what the request presented, then
// the proof's jti against the replay caches).

// Replay is a tenant's DPoP replay protection: the jti of every proof a
// decision relied on is recorded for the tenant's replay window.
type Replay struct {
	// Local is this replica's cache (dpop.MemoryReplayCache). Its error (a
	// full cache) denies 503. nil: NewSnapshot makes one for the tenant.
	Local dpop.ReplayCache
	// Shared is the cache every replica shares (Redis), asked when Local
	// saw the jti first; nil: none. When it cannot answer, Local's verdict
	// stands: the fallback is logged with the token_id (and counted by the
	// shared cache).
	Shared dpop.ReplayCache
}

// defaultVerifier checks proofs for tenants built without a Verifier: the
// contract's defaults, no leeway.
var defaultVerifier = func() *dpop.Verifier {
	v, err := dpop.NewVerifier(dpop.Options{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return v
}()

// presented is what the request presented for a sender-constrained token:
// the binding inputs of the decision, and the verified proof.
type presented struct {
	binding decision.Binding
	proof   dpop.Proof
}

// verifyProof checks the form of the request's DPoP proof, when the DPoP
// scheme or a DPoP header came (RFC 9449 §4.3 but the binding and replay).
// ok is false when it failed: out then holds the deny (401
// invalid_dpop_proof), decided without introspection.
func (c *Checker) verifyProof(t *Tenant, p *decision.Policy, req *Request, token string, scheme bearer.Scheme, out *Outcome) (presented, bool) {
	pr := presented{binding: decision.Binding{Scheme: scheme}}
	if scheme != bearer.SchemeDPoP && len(req.DPoP) == 0 {
		return pr, true
	}
	httpScheme := req.Scheme
	if httpScheme == "" {
		httpScheme = "https"
	}
	proof, err := t.DPoP.Verify(req.DPoP, dpop.Request{Method: req.Method, Scheme: httpScheme, Authority: req.Host, Path: req.Path}, token, c.now())
	if err != nil {
		desc := "DPoP proof is invalid"
		var pe *dpop.ProofError
		if errors.As(err, &pe) {
			desc = pe.Description
		}
		out.Decision = decision.DenyInvalidDPoPProof(p, desc)
		out.TokenID = bearer.ID(token)
		return pr, false
	}
	pr.proof, pr.binding.ProofThumbprint = proof, proof.Thumbprint
	return pr, true
}

// decideBound is decision.Decide with the binding inputs: the client
// certificate's thumbprint when the token is certificate-bound, then the
// proof's jti when the decision relies on a fresh proof.
func (c *Checker) decideBound(ctx context.Context, t *Tenant, r *Route, req *Request, claims *introspection.Claims, token string, pr presented, out *Outcome) decision.Decision {
	b := pr.binding
	// The revocation markers (revoked.go) are judged right after active.
	b.Revoked = c.revoked(t.Name, claims)
	if claims.Cnf().X5T != "" { // only a certificate-bound token's certificate is read
		b.CertThumbprint, b.CertProblem = clientCertificate(t, req)
	}
	d := decision.Decide(&r.Policy, claims, c.now(), b)
	if !d.ReplayCheck {
		return d
	}
	replayed, err := c.seen(ctx, t, pr.proof.JTI, token)
	switch {
	case err != nil:
		out.Err = err
		c.logProblem(ctx, slog.LevelWarn, "DPoP replay check failed", t.Name, r.Rule.Name, token, err)
		return decision.DenyReplayCheckFailed()
	case replayed:
		b.Replayed = true
		return decision.Decide(&r.Policy, claims, c.now(), b)
	}
	return d
}

// seen records jti for tenant t in its replay caches and reports whether
// it was seen before: in this replica's cache, else in the shared one. A
// failing shared cache leaves the local verdict standing.
func (c *Checker) seen(ctx context.Context, t *Tenant, jti, token string) (bool, error) {
	ttl := t.DPoP.ReplayWindow()
	replayed, err := t.Replay.Local.Seen(ctx, t.Name, jti, ttl)
	if err != nil || replayed || t.Replay.Shared == nil {
		return replayed, err
	}
	shared, err := t.Replay.Shared.Seen(ctx, t.Name, jti, ttl)
	if err != nil {
		// Skipped: the shared cache's breaker is open and said so once.
		level := slog.LevelWarn
		if errors.Is(err, dpop.ErrReplayCacheSkipped) {
			level = slog.LevelDebug
		}
		c.logProblem(ctx, level, "DPoP replay check: the shared cache did not answer, this replica's cache decided", t.Name, "", token, err)
		return false, nil
	}
	return shared, nil
}

// logProblem logs a problem of one check with its token_id (never the
// token or the proof) and trace_id.
func (c *Checker) logProblem(ctx context.Context, level slog.Level, msg, tenant, route, token string, err error) {
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("tenant", tenant), slog.String("token_id", bearer.ID(token)), slog.String("error", err.Error())}
	if route != "" {
		attrs = append(attrs, slog.String("route", route))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	c.log.LogAttrs(ctx, level, msg, attrs...)
}

// clientCertificate reads the request's client certificate for a
// certificate-bound token: thumbprint, or the problem (a description for
// the deny; "" when no certificate came). In HTTP mode (req.Headers set)
// it comes from the tenant's certificate_header only; one sent twice is
// refused, as the proxy in front and the upstream could each read another.
func clientCertificate(t *Tenant, req *Request) (thumbprint, problem string) {
	cert := req.Certificate
	if req.Headers != nil {
		cert = ""
		if t.CertificateHeader != "" {
			switch v := req.Headers[t.CertificateHeader]; len(v) {
			case 0:
			case 1:
				cert = v[0]
			default:
				return "", "more than one client certificate header"
			}
		}
	}
	tp, err := certbind.Thumbprint(cert)
	switch {
	case err == nil:
		return tp, ""
	case errors.Is(err, certbind.ErrNoCertificate):
		return "", ""
	}
	return "", "the client certificate cannot be read"
}
