package check

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
	"github.com/tokengate/tokengate/testsupport"
)

const jwtIssuer = "https://idp.acme.example"

// jwtWorld is one tenant, acme, checking JWT access tokens in a mode: the
// chain a tenant.Runtime builds (its cache store, the local JWT layer,
// then the fake authorization server as), over a JWKS server of
// jwkstest.KeySet. Route "api" needs audience api://orders and scope
// orders.read.
type jwtWorld struct {
	c    *Checker
	as   *introspectiontest.Introspector // nil: the tenant has no introspection
	jwks *jwkstest.Server
}

func newJWTWorld(t testing.TB, mode jwtaccess.Mode, withAS bool) *jwtWorld {
	t.Helper()
	return newJWTWorldTTL(t, mode, withAS, 5*time.Minute)
}

// newJWTWorldTTL is newJWTWorld with the cache's max_ttl (0: nothing is
// cached, every check is a miss).
func newJWTWorldTTL(t testing.TB, mode jwtaccess.Mode, withAS bool, maxTTL time.Duration) *jwtWorld {
	t.Helper()
	w := &jwtWorld{jwks: jwkstest.NewServer(t, jwkstest.KeySet()...)}
	keys, err := introspection.NewJWKS(introspection.JWKSOptions{URL: w.jwks.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtaccess.New(jwtaccess.Options{Issuer: jwtIssuer, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var next introspection.Introspector
	if withAS {
		w.as = introspectiontest.NewIntrospector()
		next = w.as
	}
	store := cache.NewStore(cache.Options{Tenant: "acme", Fingerprint: "jwt-test", MaxTTL: maxTTL,
		NegativeTTL: 10 * time.Second, MaxEntries: 1000})
	t.Cleanup(store.Close)
	chain := introspection.Chain(next, store.Middleware(2*time.Second),
		v.Middleware(jwtaccess.LayerOptions{Mode: mode, Introspects: withAS, Leeway: 30 * time.Second}))
	tenant := &Tenant{Name: "acme", Introspector: chain, JWTMode: mode,
		Headers: claimheaders.New(claimheaders.Options{Claims: []claimheaders.ClaimHeader{{Claim: "sub", Header: "x-sub"}}})}
	snap := NewSnapshot([]Route{{Rule: routing.Rule{Name: "api", PathPrefix: "/api"}, Tenant: tenant,
		Policy: decision.Policy{Realm: "acme", Issuer: jwtIssuer, Leeway: 30 * time.Second,
			TokenTypes: []string{"Bearer", "DPoP", "access_token"}, Audiences: []string{"api://orders"},
			Scopes: []string{"orders.read"}}}})
	w.c = New(snap, Options{Logger: slog.New(slog.DiscardHandler)})
	return w
}

// asCalls is how many calls the fake authorization server got (0 without one).
func (w *jwtWorld) asCalls() int64 {
	if w.as == nil {
		return 0
	}
	return w.as.Total()
}

// jwtClaims are the claims of a token acme accepts on route api; extra
// adds claims, a nil value removes one.
func jwtClaims(extra map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": jwtIssuer, "sub": "user-1", "client_id": "app-1", "aud": "api://orders",
		"scope": "orders.read profile", "exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(),
		"jti": "jti-1",
	}
	return testsupport.Edit(c, extra)
}

// mintJWT signs claims with key for alg under a header of alg, kid and
// typ at+jwt; hdr adds header parameters (a nil value removes one).
func mintJWT(t testing.TB, key any, alg, kid string, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	h := testsupport.Edit(map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"}, hdr)
	return jwkstest.MustSignRaw(t, key, alg, testsupport.MustJSON(t, h), testsupport.MustJSON(t, claims))
}

// hs256WithPublicKey is the RS256→HS256 key confusion: a token MACed with
// the bytes of the RSA public key a careless verifier would use as the
// HMAC secret.
func hs256WithPublicKey(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	pub, err := x509.MarshalPKIXPublicKey(jwkstest.RSAKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	input := jwkstest.Encode(testsupport.MustJSON(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"})) + "." +
		jwkstest.Encode(testsupport.MustJSON(t, claims))
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(input))
	return input + "." + jwkstest.Encode(mac.Sum(nil))
}

// unsigned is an alg none token (an empty signature would not even be a
// JWS; a junk one is given).
func unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	return jwkstest.Encode(testsupport.MustJSON(t, map[string]any{"alg": "none", "typ": "at+jwt"})) + "." +
		jwkstest.Encode(testsupport.MustJSON(t, claims)) + "." + jwkstest.Encode([]byte("x"))
}

// activeAnswer is what the fake authorization server says about a token:
// claims with active true.
func activeAnswer(t testing.TB, claims map[string]any) introspection.Result {
	t.Helper()
	c := maps.Clone(claims)
	c["active"] = true
	parsed, err := introspection.ParseClaims(testsupport.MustJSON(t, c))
	if err != nil {
		t.Fatal(err)
	}
	return introspection.Result{Claims: parsed, Cache: introspection.CacheNone}
}
