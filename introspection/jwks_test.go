package introspection_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
)

// jwksSetup is a jwtAS with keys and a client of it on a fake clock.
func jwksSetup(t *testing.T, keys ...jose.JSONWebKey) (*jwtAS, *introspection.Client, *jwkstest.Clock) {
	t.Helper()
	clock := jwkstest.NewClock()
	as := newJWTAS(t, keys...)
	return as, jwksClient(t, as, clock), clock
}

// jwksClient is a client of as whose response checks run on clock.
func jwksClient(t *testing.T, as *jwtAS, clock *jwkstest.Clock) *introspection.Client {
	t.Helper()
	opts := as.options()
	opts.Headers = map[string]string{"X-Api-Key": "for-the-introspection-endpoint-only"}
	c := newClient(t, opts)
	introspection.SetResponseClock(c, clock.Now)
	return c
}

// jwksWarm is jwksSetup whose client has verified one response signed by
// key as kid: it has fetched the JWKS once.
func jwksWarm(t *testing.T, keys []jose.JSONWebKey, key any, alg jose.SignatureAlgorithm, kid string) (*jwtAS, *introspection.Client, *jwkstest.Clock) {
	t.Helper()
	as, c, clock := jwksSetup(t, keys...)
	as.signWith(t, key, alg, kid)
	mustIntrospect(t, c, testToken)
	wantFetches(t, as, 1)
	return as, c, clock
}

func (a *jwtAS) signWith(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string) {
	t.Helper()
	a.respond(introspection.JWTResponseMediaType, sign(t, key, alg, kid, typ, responseClaims()))
}

func wantFetches(t *testing.T, as *jwtAS, n int32) {
	t.Helper()
	if got := as.fetches.Load(); got != n {
		t.Errorf("%d JWKS fetches, want %d", got, n)
	}
}

func TestJWKSCachedAcrossCalls(t *testing.T) {
	t.Parallel()
	as, c, _ := jwksSetup(t, defaultKeys()...)
	for _, k := range []struct {
		key any
		alg jose.SignatureAlgorithm
		kid string
	}{{rsaKey(), jose.RS256, "rsa-1"}, {ecKey(), jose.ES256, "ec-1"}, {rsaKey(), jose.RS256, "rsa-1"}} {
		as.signWith(t, k.key, k.alg, k.kid)
		mustIntrospect(t, c, testToken)
	}
	wantFetches(t, as, 1)
}

func TestJWKSUnknownKidRefetchedOnceThenRateLimited(t *testing.T) {
	t.Parallel()
	as, c, clock := jwksWarm(t, defaultKeys(), rsaKey(), jose.RS256, "rsa-1")
	clock.Advance(introspection.JWKSRefetchInterval + time.Second)
	as.signWith(t, rsaKey2(), jose.RS256, "rsa-unknown")
	if err := mustRefuse(t, c); !strings.Contains(err.Error(), "no key of the JWKS") {
		t.Errorf("error = %q", err)
	}
	wantFetches(t, as, 2) // refetched once

	// Within the interval, many concurrent misses fetch nothing more.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Introspect(context.Background(), testToken); err == nil {
				t.Error("an unknown kid was accepted")
			}
		})
	}
	wg.Wait()
	wantFetches(t, as, 2)

	// After it, one more.
	clock.Advance(introspection.JWKSRefetchInterval)
	for range 3 {
		mustRefuse(t, c)
	}
	wantFetches(t, as, 3)
}

func TestJWKSConcurrentUnknownKidMakesOneRefetch(t *testing.T) {
	t.Parallel()
	as, c, clock := jwksWarm(t, defaultKeys(), rsaKey(), jose.RS256, "rsa-1")
	clock.Advance(time.Minute)
	as.setKeys(t, append(defaultKeys(), pubJWK(rsaKey2(), "rsa-2"))...)
	as.signWith(t, rsaKey2(), jose.RS256, "rsa-2")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Introspect(context.Background(), testToken); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wantFetches(t, as, 2)
}

func TestJWKSRotatedKey(t *testing.T) {
	t.Parallel()
	as, c, clock := jwksWarm(t, []jose.JSONWebKey{pubJWK(rsaKey(), "rsa-1")}, rsaKey(), jose.RS256, "rsa-1")
	// The server rotates to rsa-2 and drops rsa-1.
	as.setKeys(t, pubJWK(rsaKey2(), "rsa-2"))
	as.signWith(t, rsaKey2(), jose.RS256, "rsa-2")
	// Right after the first fetch, the rate limit holds the refetch back.
	mustRefuse(t, c)
	wantFetches(t, as, 1)

	clock.Advance(introspection.JWKSRefetchInterval)
	for range 3 {
		mustIntrospect(t, c, testToken)
	}
	wantFetches(t, as, 2)
	// The refetched set replaced the old one: rsa-1 is no longer trusted.
	as.signWith(t, rsaKey(), jose.RS256, "rsa-1")
	mustRefuse(t, c)
}

func TestJWKSKidlessSignatureRefreshesOnce(t *testing.T) {
	t.Parallel()
	as, c, clock := jwksWarm(t, []jose.JSONWebKey{pubJWK(rsaKey(), "rsa-1")}, rsaKey(), jose.RS256, "")
	clock.Advance(introspection.JWKSRefetchInterval)
	as.setKeys(t, pubJWK(rsaKey2(), "rsa-2"))
	as.signWith(t, rsaKey2(), jose.RS256, "")
	mustIntrospect(t, c, testToken)
	wantFetches(t, as, 2)
}

func TestJWKSMaxAge(t *testing.T) {
	t.Parallel()
	as, c, clock := jwksWarm(t, defaultKeys(), ecKey(), jose.ES256, "ec-1")
	clock.Advance(introspection.JWKSMaxAge)
	mustIntrospect(t, c, testToken)
	wantFetches(t, as, 2) // old keys are fetched again

	// A failing refresh keeps the old keys in use.
	as.setJWKS(500, "")
	clock.Advance(introspection.JWKSMaxAge)
	for range 2 {
		mustIntrospect(t, c, testToken)
	}
	wantFetches(t, as, 3)
}

func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
		status           int
	}{
		{"500", `{"keys":[]}`, "JWKS endpoint answered 500", 500},
		{"redirect", "", "JWKS endpoint answered 302", 302},
		{"not JSON", "<html>", `not a JSON object with a "keys" array`, 0},
		{"no keys member", `{"jwks":[]}`, `"keys" array`, 0},
		{"larger than 1 MiB", `{"keys":[],"pad":"` + strings.Repeat("x", introspection.MaxResponseBytes) + `"}`, "larger than 1 MiB", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := jwkstest.NewClock()
			as := newJWTAS(t)
			as.setJWKS(tc.status, tc.body)
			as.signWith(t, rsaKey(), jose.RS256, "rsa-1")
			c := jwksClient(t, as, clock)
			for range 2 {
				if err := mustRefuse(t, c); !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "JWKS") {
					t.Errorf("error = %q, want it to mention %q", err, tc.want)
				}
			}
			wantFetches(t, as, 1) // failed fetches are rate-limited too
			// Once the endpoint recovers, the next allowed fetch helps.
			as.setKeys(t, defaultKeys()...)
			clock.Advance(introspection.JWKSRefetchInterval)
			mustIntrospect(t, c, testToken)
			wantFetches(t, as, 2)
		})
	}
}

func TestJWKSSkipsKeysItCannotUse(t *testing.T) {
	t.Parallel()
	as := newJWTAS(t)
	// An unknown kty, an encryption key and a symmetric key under the kid
	// the response names, beside the real signing key.
	as.setJWKS(0, `{"keys":[
		{"kty":"XYZ","kid":"rsa-1"},
		{"kty":"oct","kid":"rsa-1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
		`+jwkJSON(t, jose.JSONWebKey{Key: rsaKey2().Public(), KeyID: "rsa-1", Use: "enc"})+`,
		`+jwkJSON(t, pubJWK(rsaKey(), "rsa-1"))+`]}`)
	as.signWith(t, rsaKey(), jose.RS256, "rsa-1")
	mustIntrospect(t, newClient(t, as.options()), testToken)
	// A response signed with the key marked for encryption is refused.
	as2 := newJWTAS(t, jose.JSONWebKey{Key: rsaKey2().Public(), KeyID: "rsa-1", Use: "enc"})
	as2.signWith(t, rsaKey2(), jose.RS256, "rsa-1")
	mustRefuse(t, newClient(t, as2.options()))
}

func jwkJSON(t *testing.T, k jose.JSONWebKey) string {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJWKSFetchOutlivesTheCallerThatGaveUp(t *testing.T) {
	t.Parallel()
	as := newJWTAS(t, defaultKeys()...)
	as.signWith(t, rsaKey(), jose.RS256, "rsa-1")
	c := jwksClient(t, as, jwkstest.NewClock())
	as.mu.Lock()
	as.jwksDelay = 100 * time.Millisecond
	as.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	res, err := c.Introspect(ctx, testToken)
	mustFail(t, res, err)

	// The fetch went on for the callers after it: the next one waits for
	// it (or finds its keys) instead of making another request.
	mustIntrospect(t, c, testToken)
	wantFetches(t, as, 1)
}
