package check

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// jwtRow is one rule of the contract's "JWT access tokens" section.
type jwtRow struct {
	name   string
	token  func(t testing.TB) string
	reason decision.Reason
	status int // 0: allow
	path   Path
	calls  int64 // calls the authorization server gets
}

func (r jwtRow) run(t *testing.T, w *jwtWorld) {
	t.Helper()
	token := r.token(t)
	before := w.asCalls()
	out := w.c.Check(context.Background(), &Request{Method: "GET", Path: "/api/x", Authorization: "Bearer " + token})
	if out.Decision.Reason != r.reason {
		t.Fatalf("reason = %q, want %q (err %v)", out.Decision.Reason, r.reason, out.Err)
	}
	if (r.status == 0) != out.Decision.Allow || (r.status != 0 && out.Decision.Status != r.status) {
		t.Errorf("allow %v status %d, want status %d", out.Decision.Allow, out.Decision.Status, r.status)
	}
	if out.Path != r.path {
		t.Errorf("path = %q, want %q", out.Path, r.path)
	}
	if got := w.asCalls() - before; got != r.calls {
		t.Errorf("authorization server calls = %d, want %d", got, r.calls)
	}
	if out.Decision.Status == http.StatusUnauthorized {
		// Every 401 after the token's syntax: invalid_token with a description.
		want := `Bearer realm="acme", error="invalid_token", error_description="`
		if ch := out.Decision.Challenge(); !strings.HasPrefix(ch, want) {
			t.Errorf("challenge = %s, want %s...", ch, want)
		}
		if out.TokenID == "" {
			t.Error("no token_id on the deny")
		}
	}
}

func signed(claims map[string]any) func(t testing.TB) string {
	return func(t testing.TB) string { return mintJWT(t, jwkstest.RSAKey(), "RS256", "rsa-1", claims, nil) }
}

func signedWith(key any, alg, kid string, claims map[string]any, hdr map[string]any) func(t testing.TB) string {
	return func(t testing.TB) string { return mintJWT(t, key, alg, kid, claims, hdr) }
}

// localRows are the local checks, the same in both modes: none of these
// tokens reaches the authorization server.
func localRows() []jwtRow {
	rsa2, ec, ed := func() any { return jwkstest.RSAKey2() }, jwkstest.ECKey, jwkstest.EdKey
	hour := time.Hour
	return []jwtRow{
		{name: "forged signature", token: signedWith(rsa2(), "RS256", "rsa-1", jwtClaims(nil), nil),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "unknown kid", token: signedWith(jwkstest.RSAKey(), "RS256", "nope", jwtClaims(nil), nil),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "alg none", token: func(t testing.TB) string { return unsigned(t, jwtClaims(nil)) },
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "HS256 with the RSA public key (key confusion)", token: func(t testing.TB) string { return hs256WithPublicKey(t, "rsa-1", jwtClaims(nil)) },
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "alg not the key's (ES256 header, RSA kid)", token: signedWith(ec(), "ES256", "rsa-1", jwtClaims(nil), nil),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "typ JWT", token: signedWith(jwkstest.RSAKey(), "RS256", "rsa-1", jwtClaims(nil), map[string]any{"typ": "JWT"}),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "no typ", token: signedWith(jwkstest.RSAKey(), "RS256", "rsa-1", jwtClaims(nil), map[string]any{"typ": nil}),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "jku header", token: signedWith(jwkstest.RSAKey(), "RS256", "rsa-1", jwtClaims(nil), map[string]any{"jku": "https://evil.example/jwks"}),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "foreign issuer", token: signed(jwtClaims(map[string]any{"iss": "https://evil.example"})),
			reason: decision.Issuer, status: 401, path: PathLocal},
		{name: "no iss", token: signed(jwtClaims(map[string]any{"iss": nil})),
			reason: decision.Issuer, status: 401, path: PathLocal},
		{name: "no exp", token: signed(jwtClaims(map[string]any{"exp": nil})),
			reason: decision.InvalidToken, status: 401, path: PathLocal},
		{name: "aud of the wrong type", token: signed(jwtClaims(map[string]any{"aud": 7})),
			reason: decision.InvalidToken, status: 401, path: PathLocal},
		{name: "expired", token: signed(jwtClaims(map[string]any{"exp": time.Now().Add(-hour).Unix()})),
			reason: decision.Expired, status: 401, path: PathLocal},
		{name: "not yet valid", token: signed(jwtClaims(map[string]any{"nbf": time.Now().Add(hour).Unix()})),
			reason: decision.NotYetValid, status: 401, path: PathLocal},
		{name: "RS256 header with the Ed25519 kid", token: signedWith(rsa2(), "RS256", "ed-1", jwtClaims(nil), nil),
			reason: decision.InvalidSignature, status: 401, path: PathLocal},
		{name: "exp within the leeway", token: signedWith(ed(), "EdDSA", "ed-1", jwtClaims(map[string]any{"exp": time.Now().Add(-10 * time.Second).Unix()}), nil),
			reason: decision.Allowed, path: PathLocal, calls: -1},
	}
}

// TestJWTLocal: jwt.mode local with an introspection endpoint. A JWS is
// decided on its own claims without the authorization server; an opaque
// token is introspected.
func TestJWTLocal(t *testing.T) {
	w := newJWTWorld(t, jwtaccess.ModeLocal, true)
	w.as.Answer("opaque-token", activeAnswer(t, jwtClaims(nil)))
	rows := append(localRows(),
		jwtRow{name: "RS256", token: signed(jwtClaims(nil)), reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "ES256", token: signedWith(jwkstest.ECKey(), "ES256", "ec-1", jwtClaims(nil), nil), reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "PS256 without kid", token: signedWith(jwkstest.RSAKey(), "PS256", "", jwtClaims(nil), map[string]any{"kid": nil}),
			reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "typ application/at+jwt", token: signedWith(jwkstest.RSAKey(), "RS256", "rsa-1", jwtClaims(nil), map[string]any{"typ": "application/at+jwt"}),
			reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "wrong audience", token: signed(jwtClaims(map[string]any{"aud": []string{"api://other"}})),
			reason: decision.Audience, status: 401, path: PathLocal},
		jwtRow{name: "missing scope", token: signed(jwtClaims(map[string]any{"scope": "profile"})),
			reason: decision.InsufficientScope, status: 403, path: PathLocal},
		jwtRow{name: "scp array", token: signed(jwtClaims(map[string]any{"scope": nil, "scp": []string{"orders.read"}})),
			reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "refresh token type", token: signed(jwtClaims(map[string]any{"token_type": "refresh_token"})),
			reason: decision.TokenType, status: 401, path: PathLocal},
		jwtRow{name: "opaque token is introspected", token: func(testing.TB) string { return "opaque-token" },
			reason: decision.Allowed, path: PathIntrospection, calls: 1},
		jwtRow{name: "unknown opaque token", token: func(testing.TB) string { return "opaque-unknown" },
			reason: decision.Inactive, status: 401, path: PathIntrospection, calls: 1},
	)
	for _, r := range rows {
		if r.calls < 0 {
			r.calls = 0
		}
		t.Run(r.name, func(t *testing.T) { r.run(t, w) })
	}
	t.Run("cached", func(t *testing.T) {
		tok := signed(jwtClaims(map[string]any{"jti": "cached"}))(t)
		jwtRow{name: "first", token: func(testing.TB) string { return tok }, reason: decision.Allowed, path: PathLocal}.run(t, w)
		jwtRow{name: "again", token: func(testing.TB) string { return tok }, reason: decision.Allowed, path: PathCache}.run(t, w)
	})
}

// TestJWTLocalWithoutIntrospection: jwt.mode local, no introspection
// endpoint: a token that is not a JWT is refused, invalid_token.
func TestJWTLocalWithoutIntrospection(t *testing.T) {
	w := newJWTWorld(t, jwtaccess.ModeLocal, false)
	rows := append(localRows(),
		jwtRow{name: "RS256", token: signed(jwtClaims(nil)), reason: decision.Allowed, path: PathLocal},
		jwtRow{name: "opaque token", token: func(testing.TB) string { return "opaque-token" },
			reason: decision.InvalidToken, status: 401, path: PathLocal},
		jwtRow{name: "five segments (JWE)", token: func(testing.TB) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" },
			reason: decision.InvalidToken, status: 401, path: PathLocal},
	)
	for _, r := range rows {
		if r.calls < 0 {
			r.calls = 0
		}
		t.Run(r.name, func(t *testing.T) { r.run(t, w) })
	}
}

// TestJWTLocalThenIntrospect: the local checks first (none of their
// failures reaches the authorization server), then introspection decides
// active and the claims.
func TestJWTLocalThenIntrospect(t *testing.T) {
	w := newJWTWorld(t, jwtaccess.ModeLocalThenIntrospect, true)
	good := signed(jwtClaims(map[string]any{"jti": "good"}))(t)
	revoked := signed(jwtClaims(map[string]any{"jti": "revoked"}))(t)
	narrowed := signed(jwtClaims(map[string]any{"jti": "narrowed"}))(t)
	w.as.Answer(good, activeAnswer(t, jwtClaims(nil)))
	w.as.Answer(narrowed, activeAnswer(t, jwtClaims(map[string]any{"scope": "profile"}))) // the server's claims win
	w.as.Answer("opaque-token", activeAnswer(t, jwtClaims(nil)))
	fixed := func(s string) func(testing.TB) string { return func(testing.TB) string { return s } }
	rows := append(localRows(),
		jwtRow{name: "active at the server", token: fixed(good), reason: decision.Allowed, path: PathIntrospection, calls: 1},
		jwtRow{name: "active, cached", token: fixed(good), reason: decision.Allowed, path: PathCache},
		jwtRow{name: "inactive at the server (revoked)", token: fixed(revoked), reason: decision.Inactive, status: 401, path: PathIntrospection, calls: 1},
		jwtRow{name: "the server's claims decide", token: fixed(narrowed), reason: decision.InsufficientScope, status: 403, path: PathIntrospection, calls: 1},
		jwtRow{name: "opaque token is introspected", token: fixed("opaque-token"), reason: decision.Allowed, path: PathIntrospection, calls: 1},
	)
	for _, r := range rows {
		if r.calls < 0 { // within the leeway: valid locally, then asked (and inactive: unknown to the fake)
			r.calls, r.reason, r.status, r.path = 1, decision.Inactive, 401, PathIntrospection
		}
		t.Run(r.name, func(t *testing.T) { r.run(t, w) })
	}
}

// TestJWTNoKeySet: no key set could ever be fetched: 503
// introspection_error (fail closed), the authorization server not asked.
func TestJWTNoKeySet(t *testing.T) {
	for _, mode := range []jwtaccess.Mode{jwtaccess.ModeLocal, jwtaccess.ModeLocalThenIntrospect} {
		t.Run(string(mode), func(t *testing.T) {
			w := newJWTWorld(t, mode, true)
			w.jwks.SetDocument(jwkstest.JWKSPath, http.StatusInternalServerError, "")
			jwtRow{name: "no keys", token: signed(jwtClaims(nil)), reason: decision.IntrospectionError, status: 503, path: PathLocal}.run(t, w)
		})
	}
}

// TestPathOf: the path reported for each kind of answer.
func TestPathOf(t *testing.T) {
	local, off := &Tenant{JWTMode: jwtaccess.ModeLocal}, &Tenant{}
	jws := mintJWT(t, jwkstest.ECKey(), "ES256", "ec-1", jwtClaims(nil), nil)
	for _, tt := range []struct {
		t     *Tenant
		token string
		cache introspection.CacheStatus
		err   error
		want  Path
	}{
		{off, "x", introspection.CacheMiss, nil, PathIntrospection},
		{off, "x", introspection.CacheHit, nil, PathCache},
		{off, "x", introspection.CacheNegativeHit, nil, PathCache},
		{off, "x", introspection.CacheMiss, introspection.ErrIntrospection, PathIntrospection},
		{local, jws, introspection.CacheMiss, nil, PathLocal},
		{local, jws, introspection.CacheCoalesced, nil, PathLocal},
		{local, "opaque", introspection.CacheMiss, nil, PathIntrospection},
		{local, jws, introspection.CacheMiss, jwtaccess.ErrKeysUnavailable, PathLocal},
		{local, "opaque", introspection.CacheMiss, introspection.ErrIntrospection, PathIntrospection},
	} {
		if got := pathOf(tt.t, tt.token, tt.cache, tt.err); got != tt.want {
			t.Errorf("pathOf(%q, %q, %v) = %q, want %q", tt.t.JWTMode, tt.cache, tt.err, got, tt.want)
		}
	}
}
