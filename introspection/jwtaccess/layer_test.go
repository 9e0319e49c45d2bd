package jwtaccess_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// TestLayer: what the layer answers, and whether the server behind it is
// asked, per mode and token.
func TestLayer(t *testing.T) {
	e := newEnv(t, keySet()...)
	now := time.Now()
	expiredWithinLeeway := mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}))
	expired := mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(map[string]any{"exp": now.Add(-time.Minute).Unix()}))
	early := mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(map[string]any{"nbf": now.Add(time.Minute).Unix()}))
	forged := mint(t, rsa2(), "RS256", header("RS256", "rsa-1"), payload(nil))
	good := valid(t)
	for _, tt := range []struct {
		name        string
		mode        jwtaccess.Mode
		introspects bool
		token       string
		want        error // nil: an answer
		calls       int64 // calls next gets
		outcome     string
	}{
		{"local: good", jwtaccess.ModeLocal, true, good, nil, 0, "ok"},
		{"local: within the leeway", jwtaccess.ModeLocal, true, expiredWithinLeeway, nil, 0, "ok"},
		{"local: expired", jwtaccess.ModeLocal, true, expired, jwtaccess.ErrExpired, 0, "expired"},
		{"local: not yet valid", jwtaccess.ModeLocal, true, early, jwtaccess.ErrNotYetValid, 0, "not_yet_valid"},
		{"local: forged", jwtaccess.ModeLocal, true, forged, jwtaccess.ErrInvalidSignature, 0, "invalid_signature"},
		{"local: opaque, introspected", jwtaccess.ModeLocal, true, "opaque", nil, 1, "not_jws"},
		{"local: opaque, nothing to ask", jwtaccess.ModeLocal, false, "opaque", jwtaccess.ErrNotJWS, 0, "not_jws"},
		{"then introspect: good", jwtaccess.ModeLocalThenIntrospect, true, good, nil, 1, "ok"},
		{"then introspect: forged", jwtaccess.ModeLocalThenIntrospect, true, forged, jwtaccess.ErrInvalidSignature, 0, "invalid_signature"},
		{"then introspect: expired", jwtaccess.ModeLocalThenIntrospect, true, expired, jwtaccess.ErrExpired, 0, "expired"},
		{"then introspect: opaque", jwtaccess.ModeLocalThenIntrospect, true, "opaque", nil, 1, "not_jws"},
		{"then introspect without a server fails closed", jwtaccess.ModeLocalThenIntrospect, false, good, introspection.ErrIntrospection, 0, "ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as := introspectiontest.Active()
			var next introspection.Introspector
			if tt.introspects {
				next = as
			}
			l := e.v.Middleware(jwtaccess.LayerOptions{Mode: tt.mode, Introspects: tt.introspects, Leeway: 30 * time.Second})(next)
			res, err := l.Introspect(context.Background(), tt.token)
			switch {
			case tt.want == nil && (err != nil || res.Claims == nil || !res.Claims.Active):
				t.Fatalf("got %+v, %v; want an active answer", res, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if got := as.Total(); got != tt.calls {
				t.Errorf("next called %d times, want %d", got, tt.calls)
			}
			if tt.mode == jwtaccess.ModeLocal && tt.calls == 0 && err == nil && res.Claims.Subject != "user-1" {
				t.Errorf("local answer without the token's claims: %+v", res.Claims)
			}
			_, verr := e.v.Verify(context.Background(), tt.token)
			if verr == nil && tt.outcome != "ok" && tt.outcome != "expired" && tt.outcome != "not_yet_valid" {
				t.Fatalf("Verify accepted a token the row calls %s", tt.outcome)
			}
		})
	}
}

func TestOutcomeWords(t *testing.T) {
	for err, want := range map[error]string{
		nil: "ok", jwtaccess.ErrNotJWS: "not_jws", jwtaccess.ErrInvalidSignature: "invalid_signature",
		jwtaccess.ErrIssuer: "issuer", jwtaccess.ErrInvalidClaims: "invalid_claims", jwtaccess.ErrExpired: "expired",
		jwtaccess.ErrNotYetValid: "not_yet_valid", jwtaccess.ErrKeysUnavailable: "keys_unavailable",
		errors.New("other"): "error",
	} {
		if got := jwtaccess.Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestLayerSpan: each local check is a tokengate.jwt.verify span, child
// of the caller's, ended before the server is asked.
func TestLayerSpan(t *testing.T) {
	e := newEnv(t, keySet()...)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	l := e.v.Middleware(jwtaccess.LayerOptions{Mode: jwtaccess.ModeLocal, Tracer: tp.Tracer("t")})(nil)
	ctx, parent := tp.Tracer("t").Start(context.Background(), "tokengate.check")
	if _, err := l.Introspect(ctx, valid(t)); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "tokengate.jwt.verify" {
		t.Fatalf("spans %v", spans)
	}
	s := spans[0]
	if s.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("the verify span is not the check's child")
	}
	if len(s.Attributes()) != 1 || s.Attributes()[0].Value.AsString() != "ok" {
		t.Errorf("attributes %v", s.Attributes())
	}
}

func TestIsJWS(t *testing.T) {
	for tok, want := range map[string]bool{valid(t): true, "opaque": false, "a.b.c": false, "eyJhbGciOiJub25lIn0.e30.": true} {
		if got := jwtaccess.IsJWS(tok); got != want {
			t.Errorf("IsJWS(%.20q) = %v, want %v", tok, got, want)
		}
	}
}
