package jwtaccess

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tokengate/tokengate/introspection"
)

// Mode is a tenant's jwt.mode: what tokengate does with JWT access tokens.
type Mode string

// The modes; the config file spells them the same way.
const (
	// ModeOff: every token is introspected (no layer).
	ModeOff Mode = "off"
	// ModeLocal: a JWS is checked here and its claims are the answer; a
	// token that is not a JWS is introspected, or refused when the tenant
	// has no introspection (ErrNotJWS).
	ModeLocal Mode = "local"
	// ModeLocalThenIntrospect: a JWS is checked here first, then
	// introspected; the introspection answer is the answer.
	ModeLocalThenIntrospect Mode = "local_then_introspect"
)

// Modes lists the modes, the default first.
func Modes() []Mode { return []Mode{ModeOff, ModeLocal, ModeLocalThenIntrospect} }

// More errors of the layer (Verify does not judge times).
var (
	ErrExpired     = errors.New("JWT has expired")
	ErrNotYetValid = errors.New("JWT is not valid yet")
)

// LayerOptions configures Verifier.Middleware.
type LayerOptions struct {
	// Mode is ModeLocal or ModeLocalThenIntrospect (ModeOff: no layer).
	Mode Mode
	// Introspects says the layer may call next: the tenant has an
	// introspection endpoint. Without it, ModeLocal refuses a token that
	// is not a JWS (ErrNotJWS), and ModeLocalThenIntrospect is refused by
	// Middleware's caller (the config requires introspection there).
	Introspects bool
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Tracer makes the "tokengate.jwt.verify" span of each local check;
	// nil: none.
	Tracer trace.Tracer
}

// Middleware is the local JWT layer of a tenant's chain, below the local
// cache (a hit never reaches it) and above the shared cache, the breaker,
// the concurrency limit and the client (a JWT it refuses never costs a
// Redis lookup, a slot or a call to the authorization server). It runs
// Verify, then checks exp and nbf with the leeway (ErrExpired,
// ErrNotYetValid), then either answers with the token's claims (ModeLocal)
// or asks next (ModeLocalThenIntrospect). A token that is not a JWS goes
// to next when o.Introspects, else fails with ErrNotJWS.
//
// Errors of the local checks wrap the package's errors and never
// introspection.ErrIntrospection, except ErrKeysUnavailable's cause
// (no key set: 503); callers map them to reasons. The Introspector it
// returns is safe for concurrent use (v and next are) and keeps nothing.
func (v *Verifier) Middleware(o LayerOptions) introspection.Middleware {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return func(next introspection.Introspector) introspection.Introspector {
		return &layer{v: v, o: o, next: next}
	}
}

type layer struct {
	v    *Verifier
	o    LayerOptions
	next introspection.Introspector // nil when !o.Introspects
}

func (l *layer) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	claims, err := l.local(ctx, token)
	switch {
	case errors.Is(err, ErrNotJWS) && l.o.Introspects && l.next != nil:
		return l.next.Introspect(ctx, token)
	case err != nil:
		return introspection.Result{Cache: introspection.CacheNone}, err
	case l.o.Mode == ModeLocalThenIntrospect && l.next != nil:
		return l.next.Introspect(ctx, token)
	case l.o.Mode == ModeLocalThenIntrospect: // fail closed: never an answer without the server
		return introspection.Result{Cache: introspection.CacheNone},
			fmt.Errorf("%w: jwt.mode local_then_introspect without an introspection endpoint", introspection.ErrIntrospection)
	}
	return introspection.Result{Claims: claims, Cache: introspection.CacheNone}, nil
}

// local runs the local checks in a span of their own, ended before next
// is called (the introspection call is its sibling, not its child).
func (l *layer) local(ctx context.Context, token string) (*introspection.Claims, error) {
	ctx, span := l.o.Tracer.Start(ctx, "tokengate.jwt.verify", trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	claims, err := l.v.Verify(ctx, token)
	if err == nil {
		err = l.checkTimes(claims)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String("tokengate.jwt.result", Outcome(err)))
		if errors.Is(err, ErrKeysUnavailable) {
			span.SetStatus(codes.Error, "no key set")
		}
	}
	return claims, err
}

// checkTimes: exp and nbf with the leeway, as the decision judges them
// (a token refused here would be refused there too, with the same reason).
func (l *layer) checkTimes(c *introspection.Claims) error {
	now := l.o.Now()
	switch {
	case !c.Expiry.IsZero() && !now.Before(c.Expiry.Add(l.o.Leeway)):
		return ErrExpired
	case !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-l.o.Leeway)):
		return ErrNotYetValid
	}
	return nil
}

// IsJWS reports whether token has the form of a JWS in compact
// serialization (see Verify's ErrNotJWS): only such tokens are checked
// locally. It decodes the token's segments but verifies nothing.
func IsJWS(token string) bool {
	_, err := parseCompact(token)
	return !errors.Is(err, ErrNotJWS)
}

// Outcome is a short word for err, the result of the local checks: "ok",
// "not_jws", "invalid_signature", "issuer", "invalid_claims", "expired",
// "not_yet_valid", "keys_unavailable" or "error".
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	for _, o := range outcomes {
		if errors.Is(err, o.err) {
			return o.word
		}
	}
	return "error"
}

// outcomes are Outcome's words, in the order they are tested.
var outcomes = [...]struct {
	err  error
	word string
}{
	{ErrNotJWS, "not_jws"},
	{ErrInvalidSignature, "invalid_signature"},
	{ErrIssuer, "issuer"},
	{ErrInvalidClaims, "invalid_claims"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrKeysUnavailable, "keys_unavailable"},
}
