package jwtaccess_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
	"github.com/tokengate/tokengate/testsupport"
)

const issuer = "https://idp.example/realms/acme"

// The keys of the tests.
var (
	rsa1 = jwkstest.RSAKey
	rsa2 = jwkstest.RSAKey2
	ec1  = jwkstest.ECKey
	ed1  = jwkstest.EdKey
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// keySet is the JWKS of most tests: one RSA, one EC and one Ed25519 key.
var keySet = jwkstest.KeySet

// env is a JWKS server, a JWKS cache of it on a manual clock that counts
// fetch outcomes, and a Verifier with default options.
type env struct {
	srv   *jwkstest.Server
	jwks  *introspection.JWKS
	v     *jwtaccess.Verifier
	clock *jwkstest.Clock
	// outcomes counts fetches by outcome; the map is never modified.
	outcomes map[introspection.JWKSFetchOutcome]*atomic.Int32
}

func newEnv(t testing.TB, keys ...jose.JSONWebKey) *env {
	t.Helper()
	e := &env{srv: jwkstest.NewServer(t, keys...), clock: jwkstest.NewClock(), outcomes: map[introspection.JWKSFetchOutcome]*atomic.Int32{
		introspection.JWKSFetchSuccess: {}, introspection.JWKSFetchUnavailable: {}, introspection.JWKSFetchInvalid: {},
	}}
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{
		URL:      e.srv.JWKSURL(),
		Observer: introspection.JWKSObserverFunc(func(o introspection.JWKSFetchOutcome) { e.outcomes[o].Add(1) }),
		Now:      e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.jwks = jwks
	e.v = e.verifier(t, jwtaccess.Options{})
	return e
}

func (e *env) advance(d time.Duration) { e.clock.Advance(d) }

func (e *env) outcome(o introspection.JWKSFetchOutcome) int { return int(e.outcomes[o].Load()) }

// verifier is a Verifier of e's keys with opts (Issuer and Keys filled in
// when empty).
func (e *env) verifier(t testing.TB, opts jwtaccess.Options) *jwtaccess.Verifier {
	t.Helper()
	if opts.Issuer == "" {
		opts.Issuer = issuer
	}
	if opts.Keys == nil {
		opts.Keys = e.jwks
	}
	v, err := jwtaccess.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) fetches() int { return e.srv.Hits(jwkstest.JWKSPath) }

func (e *env) wantFetches(t testing.TB, n int) {
	t.Helper()
	if got := e.fetches(); got != n {
		t.Errorf("%d JWKS fetches, want %d", got, n)
	}
}

// payload is a valid RFC 9068 claim set, edited by edits (a nil value
// deletes the claim).
func payload(edits map[string]any) string {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": issuer, "exp": now + 3600, "iat": now, "sub": "user-1", "client_id": "app",
		"aud": "https://api.example", "scope": "read write", "jti": "id-1",
	}
	return string(must(json.Marshal(testsupport.Edit(c, edits))))
}

// header is a JWS header with alg, typ at+jwt and kid ("" leaves it out).
func header(alg, kid string) string {
	h := map[string]string{"alg": alg, "typ": "at+jwt"}
	if kid != "" {
		h["kid"] = kid
	}
	return string(must(json.Marshal(h)))
}

// mint signs the raw header and payload JSON with key as alg.
func mint(t testing.TB, key any, alg, hdr, body string) string {
	t.Helper()
	return jwkstest.MustSignRaw(t, key, alg, []byte(hdr), []byte(body))
}

// valid is a valid token signed by the RSA key.
func valid(t testing.TB) string {
	return mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(nil))
}

// errorClasses are the sentinels Verify's errors wrap.
var errorClasses = []error{
	jwtaccess.ErrNotJWS, jwtaccess.ErrInvalidSignature, jwtaccess.ErrIssuer,
	jwtaccess.ErrInvalidClaims, jwtaccess.ErrKeysUnavailable,
}

// wantClass fails unless err wraps want (nil: err is nil) and no other
// class.
func wantClass(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return
	}
	for _, c := range errorClasses {
		if errors.Is(err, c) != (c == want) {
			t.Fatalf("Verify error %v: want only %v", err, want)
		}
	}
	if errors.Is(err, introspection.ErrIntrospection) {
		t.Fatalf("Verify error %v wraps ErrIntrospection (read as a server failure)", err)
	}
}

func verify(e *env, token string) (*introspection.Claims, error) {
	return e.v.Verify(context.Background(), token)
}
