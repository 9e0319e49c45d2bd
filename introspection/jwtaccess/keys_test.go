package jwtaccess_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

func TestKeyRotationPickedUpAfterRefetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jwkstest.JWK(rsa1(), "rsa-1"))
	_, err := verify(e, valid(t))
	wantClass(t, err, nil)
	e.wantFetches(t, 1)

	// The server rotates to rsa-2 and drops rsa-1.
	e.srv.SetKeys(t, jwkstest.JWK(rsa2(), "rsa-2"))
	rotated := mint(t, rsa2(), "RS256", header("RS256", "rsa-2"), payload(nil))
	_, err = verify(e, rotated) // within 10 s of the first fetch: no refetch
	wantClass(t, err, jwtaccess.ErrInvalidSignature)
	e.wantFetches(t, 1)

	e.advance(introspection.JWKSRefetchInterval)
	for range 3 {
		_, err = verify(e, rotated)
		wantClass(t, err, nil)
	}
	e.wantFetches(t, 2)
	_, err = verify(e, valid(t)) // rsa-1 is no longer trusted
	wantClass(t, err, jwtaccess.ErrInvalidSignature)

	// Every 5 minutes the set is fetched again, unknown kid or not.
	e.verifiesAfterMaxAge(t, rotated, 3, introspection.JWKSFetchSuccess, 3)
}

// verifiesAfterMaxAge moves the clock past the key set's max age and
// checks that token still verifies, that the JWKS was fetched fetches
// times in all, and that n attempts ended with outcome.
func (e *env) verifiesAfterMaxAge(t *testing.T, token string, fetches int, outcome introspection.JWKSFetchOutcome, n int) {
	t.Helper()
	e.advance(introspection.JWKSMaxAge)
	_, err := verify(e, token)
	wantClass(t, err, nil)
	e.wantFetches(t, fetches)
	if got := e.outcome(outcome); got != n {
		t.Errorf("%d fetches ended %s, want %d", got, outcome, n)
	}
}

func TestRandomKidFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	_, err := verify(e, valid(t))
	wantClass(t, err, nil)

	// 1,000 tokens with random kids over 50 simulated seconds: at most
	// one refetch per 10 s.
	const n, step = 1000, introspection.JWKSRefetchInterval / 200
	for i := range n {
		_, err := verify(e, mint(t, ed1(), "EdDSA", header("EdDSA", fmt.Sprintf("kid-%d", i)), payload(nil)))
		wantClass(t, err, jwtaccess.ErrInvalidSignature)
		e.advance(step)
	}
	if maxFetches := 1 + int(n*step/introspection.JWKSRefetchInterval) + 1; e.fetches() > maxFetches {
		t.Errorf("%d JWKS fetches for %d random kids, want at most %d", e.fetches(), n, maxFetches)
	}

	// Concurrent unknown kids at one instant share one refetch.
	e.advance(introspection.JWKSRefetchInterval)
	before := e.fetches()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			_, err := verify(e, mint(t, ed1(), "EdDSA", header("EdDSA", fmt.Sprintf("c-%d", i)), payload(nil)))
			if !errors.Is(err, jwtaccess.ErrInvalidSignature) {
				t.Errorf("random kid: %v", err)
			}
		})
	}
	wg.Wait()
	if got := e.fetches() - before; got != 1 {
		t.Errorf("%d JWKS fetches for 64 concurrent random kids, want 1", got)
	}
}

func TestTokenKeyPointersAreNeverFollowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	attacker := jwkstest.NewServer(t, jwkstest.JWK(rsa2(), "evil"))
	for _, name := range []string{"jku", "x5u"} {
		hdr := fmt.Sprintf(`{"alg":"RS256","typ":"at+jwt","kid":"evil","%s":%q}`, name, attacker.JWKSURL())
		_, err := verify(e, mint(t, rsa2(), "RS256", hdr, payload(nil)))
		wantClass(t, err, jwtaccess.ErrInvalidSignature)
	}
	// A kid shaped like a path or a URL is only a lookup key.
	for _, kid := range []string{"../../jwks", "/../admin", attacker.JWKSURL(), "%2e%2e%2fjwks"} {
		e.advance(introspection.JWKSRefetchInterval)
		_, err := verify(e, mint(t, rsa2(), "RS256", header("RS256", kid), payload(nil)))
		wantClass(t, err, jwtaccess.ErrInvalidSignature)
	}
	if attacker.Total() != 0 {
		t.Errorf("the server a token named got %d requests, want 0", attacker.Total())
	}
	if e.srv.Total() != e.fetches() {
		t.Errorf("%d requests to the JWKS server, %d of them to its JWKS path", e.srv.Total(), e.fetches())
	}
}

func TestNoKeySetIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.SetDocument(jwkstest.JWKSPath, 503, "")
	for range 3 {
		_, err := verify(e, valid(t))
		wantClass(t, err, jwtaccess.ErrKeysUnavailable)
		if !errors.Is(err, introspection.ErrJWKSUnavailable) {
			t.Errorf("error %v does not wrap ErrJWKSUnavailable", err)
		}
	}
	e.wantFetches(t, 1) // failed attempts are rate-limited too
	if got := e.outcome(introspection.JWKSFetchUnavailable); got != 1 {
		t.Errorf("%d unavailable outcomes, want 1", got)
	}

	// The endpoint recovers; the next allowed fetch gets the set.
	e.srv.SetKeys(t, keySet()...)
	e.advance(introspection.JWKSRefetchInterval)
	_, err := verify(e, valid(t))
	wantClass(t, err, nil)

	// A failed refresh keeps the last good set.
	e.srv.SetDocument(jwkstest.JWKSPath, 200, "<html>")
	e.verifiesAfterMaxAge(t, valid(t), 3, introspection.JWKSFetchInvalid, 1)
}

func TestCallerDeadlineWhileWaitingForTheFirstSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.v.Verify(ctx, valid(t))
	wantClass(t, err, jwtaccess.ErrKeysUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestJWKSDiscoveredFromIssuerMetadata(t *testing.T) {
	t.Parallel()
	srv := jwkstest.NewServer(t, keySet()...)
	iss := srv.URL + "/realms/acme"
	srv.SetDocument("/.well-known/oauth-authorization-server/realms/acme", 0, jwkstest.Metadata(iss, srv.JWKSURL()))
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{Issuer: iss})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtaccess.New(jwtaccess.Options{Issuer: iss, Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = v.Verify(t.Context(), mint(t, ec1(), "ES256", header("ES256", "ec-1"), payload(map[string]any{"iss": iss})))
		wantClass(t, err, nil)
	}
	if srv.Total() != 2 {
		t.Errorf("%d requests, want 2 (metadata, JWKS)", srv.Total())
	}
}

// confusedKeys hands out the RSA public key's bytes as an HMAC key for
// any alg: a key source that got key types wrong.
type confusedKeys struct{}

func (confusedKeys) Keys(context.Context, string, jose.SignatureAlgorithm, bool) ([]jose.JSONWebKey, error) {
	der, err := x509.MarshalPKIXPublicKey(rsa1().Public())
	return []jose.JSONWebKey{{Key: der, KeyID: "rsa-1"}, {Key: rsa1().Public(), KeyID: "rsa-1"}}, err
}

func TestHMACKeyConfusionFailsAtEveryLayer(t *testing.T) {
	t.Parallel()
	der := must(x509.MarshalPKIXPublicKey(rsa1().Public()))
	forged := hs256(der, header("HS256", "rsa-1"), payload(nil))
	// The verifier refuses the alg before any key is looked at...
	v, err := jwtaccess.New(jwtaccess.Options{Issuer: issuer, Keys: confusedKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), forged)
	wantClass(t, err, jwtaccess.ErrInvalidSignature)
	// ...and the JWKS never hands an RSA key out for an HMAC alg.
	e := newEnv(t, keySet()...)
	if _, err := e.jwks.Keys(t.Context(), "rsa-1", jose.HS256, false); !errors.Is(err, introspection.ErrNoMatchingKey) {
		t.Errorf("Keys for HS256: %v, want ErrNoMatchingKey", err)
	}
}
