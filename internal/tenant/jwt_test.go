package tenant_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// jwtTenant is tenant acme in jwt.mode mode with its keys at srv; the
// introspection section (at asURL, "" for none) answers signed (RFC 9701)
// responses with keys of the same URL.
func jwtTenant(t *testing.T, mode jwtaccess.Mode, srv *jwkstest.Server, asURL string) *config.Tenant {
	t.Helper()
	c := &config.Tenant{Name: "acme", Issuer: "https://idp.acme.example", Audiences: []string{"api://orders"},
		Leeway: 30 * time.Second, TokenTypes: config.DefaultTokenTypes(),
		Cache:                       config.Cache{MaxTTL: time.Minute, NegativeTTL: time.Second, MaxEntries: 100},
		MaxConcurrentIntrospections: 4, CircuitBreaker: config.DefaultCircuitBreaker(),
		JWT: config.JWT{Mode: mode, JWKSURL: srv.JWKSURL(), Algorithms: config.DefaultJWTAlgorithms(), Types: config.DefaultJWTTypes()}}
	if asURL != "" {
		c.Introspection = config.Introspection{URL: asURL, AuthMethod: introspection.AuthClientSecretBasic,
			ClientID: "rs-acme", ClientSecret: "s", ResponseFormat: introspection.ResponseJWT, JWKSURL: srv.JWKSURL(),
			TokenTypeHint: "access_token", Timeout: 2 * time.Second}
	}
	return c
}

func mint(t *testing.T, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"})
	p, _ := json.Marshal(claims)
	return jwkstest.MustSignRaw(t, jwkstest.RSAKey(), "RS256", h, p)
}

func goodJWT(t *testing.T) string {
	now := time.Now()
	return mint(t, map[string]any{"iss": "https://idp.acme.example", "sub": "u1", "aud": "api://orders",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()})
}

// signedAS answers every introspection with an RFC 9701 response, signed
// by jwkstest.RSAKey as rsa-1, saying active.
func signedAS(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		now := time.Now()
		h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "token-introspection+jwt"})
		p, _ := json.Marshal(map[string]any{"iss": "https://idp.acme.example", "aud": "rs-acme", "iat": now.Unix(),
			"token_introspection": map[string]any{"active": true, "sub": "u1", "exp": now.Add(time.Hour).Unix()}})
		w.Header().Set("Content-Type", introspection.JWTResponseMediaType)
		_, _ = w.Write([]byte(jwkstest.MustSignRaw(t, jwkstest.RSAKey(), "RS256", h, p)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestJWTLocalWithoutIntrospection: a tenant in mode local without an
// introspection section answers JWTs from its key set and refuses the rest.
func TestJWTLocalWithoutIntrospection(t *testing.T) {
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	rt := build(t, jwtTenant(t, jwtaccess.ModeLocal, keys, ""), nil)
	res, err := rt.Introspector().Introspect(context.Background(), goodJWT(t))
	if err != nil || !res.Claims.Active || res.Claims.Subject != "u1" {
		t.Fatalf("good JWT: %+v, %v", res, err)
	}
	if _, err := rt.Introspector().Introspect(context.Background(), "opaque"); !errors.Is(err, jwtaccess.ErrNotJWS) {
		t.Fatalf("opaque token: %v, want ErrNotJWS", err)
	}
	if rt.Breaker().Enabled() {
		t.Error("a breaker without a server to protect")
	}
}

// TestOneJWKSForTokensAndResponses: with the same jwks_url for JWTs and
// RFC 9701 responses, one key set serves both: one fetch in all.
func TestOneJWKSForTokensAndResponses(t *testing.T) {
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := signedAS(t)
	rt := build(t, jwtTenant(t, jwtaccess.ModeLocalThenIntrospect, keys, as.URL), nil)
	res, err := rt.Introspector().Introspect(context.Background(), goodJWT(t))
	if err != nil || !res.Claims.Active {
		t.Fatalf("introspect: %+v, %v", res, err)
	}
	if got := keys.Hits(jwkstest.JWKSPath); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (one key set for tokens and responses)", got)
	}
}

// TestJWTReuseRules: the key set and the cache are kept while the jwt
// settings are unchanged; a change of them empties the cache (new
// fingerprint) but keeps the breaker.
func TestJWTReuseRules(t *testing.T) {
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := signedAS(t)
	base := jwtTenant(t, jwtaccess.ModeLocalThenIntrospect, keys, as.URL)
	prev := build(t, base, nil)
	same := build(t, jwtTenant(t, jwtaccess.ModeLocalThenIntrospect, keys, as.URL), prev)
	if same.JWKS() != prev.JWKS() || same.Store() != prev.Store() || same.Breaker() != prev.Breaker() {
		t.Error("unchanged settings: key set, store or breaker not kept")
	}
	changed := jwtTenant(t, jwtaccess.ModeLocalThenIntrospect, keys, as.URL)
	changed.JWT.Algorithms = []string{"ES256"}
	next := build(t, changed, prev)
	if next.JWKS() == prev.JWKS() || next.Store() == prev.Store() {
		t.Error("jwt.algorithms changed: key set or store kept")
	}
	if next.Store().Options().Fingerprint == prev.Store().Options().Fingerprint {
		t.Error("jwt.algorithms changed: same cache fingerprint")
	}
	if next.Breaker() != prev.Breaker() {
		t.Error("jwt settings changed: breaker not kept (the server is the same)")
	}
	off := jwtTenant(t, jwtaccess.ModeOff, keys, as.URL)
	if rt := build(t, off, nil); rt.JWKS() != nil {
		t.Error("mode off: a key set was made")
	}
}
