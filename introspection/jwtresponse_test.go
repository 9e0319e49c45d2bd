package introspection_test

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

const testIssuer = "https://idp.acme.example"

// jwtAS is a fake authorization server answering RFC 9701 signed responses,
// with a JWKS endpoint that counts its fetches.
type jwtAS struct {
	*introspectiontest.Server
	jwks    *httptest.Server
	fetches atomic.Int32

	mu          sync.Mutex
	jwksBody    string
	jwksStatus  int
	jwksDelay   time.Duration
	contentType string
	body        string // the response to introspection requests
}

func newJWTAS(t *testing.T, keys ...jose.JSONWebKey) *jwtAS {
	t.Helper()
	a := &jwtAS{contentType: introspection.JWTResponseMediaType}
	a.setKeys(t, keys...)
	a.Server = newAS(t, func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		ct, body := a.contentType, a.body
		a.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		_, _ = fmt.Fprint(w, body)
	})
	a.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fetches.Add(1)
		if r.Method != http.MethodGet || r.Header.Get("X-Api-Key") != "" {
			t.Errorf("JWKS request: %s with X-Api-Key %q", r.Method, r.Header.Get("X-Api-Key"))
		}
		a.mu.Lock()
		status, body, delay := a.jwksStatus, a.jwksBody, a.jwksDelay
		a.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if status != 0 {
			w.WriteHeader(status)
		}
		_, _ = fmt.Fprint(w, body)
	}))
	t.Cleanup(a.jwks.Close)
	return a
}

func (a *jwtAS) setKeys(t *testing.T, keys ...jose.JSONWebKey) {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	a.setJWKS(0, string(b))
}

func (a *jwtAS) setJWKS(status int, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jwksStatus, a.jwksBody = status, body
}

func (a *jwtAS) respond(contentType, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.contentType, a.body = contentType, body
}

func (a *jwtAS) options() introspection.Options {
	o := options(a.URL)
	o.ResponseFormat = "jwt"
	o.JWKSURL = a.jwks.URL + "/jwks"
	o.Issuer = testIssuer
	return o
}

func pubJWK(key crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}
}

// defaultKeys is the JWKS of most tests: an RSA, an EC and an Ed25519 key.
func defaultKeys() []jose.JSONWebKey {
	return []jose.JSONWebKey{pubJWK(rsaKey(), "rsa-1"), pubJWK(ecKey(), "ec-1"), pubJWK(edKey(), "ed-1")}
}

// responseClaims is a valid RFC 9701 payload; edit it per test.
func responseClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"aud": "rs-acme",
		"iat": time.Now().Unix(),
		"token_introspection": map[string]any{
			"active": true, "sub": "user-1", "scope": "a b", "iss": testIssuer,
		},
	}
}

// sign makes a compact JWS of claims with the given key, alg, kid and typ
// ("" leaves kid or typ out).
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	t.Helper()
	so := &jose.SignerOptions{}
	if typ != "" {
		so = so.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		so = so.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const typ = "token-introspection+jwt"

func edit(f func(c map[string]any)) map[string]any {
	c := responseClaims()
	f(c)
	return c
}

func TestJWTResponse(t *testing.T) {
	t.Parallel()
	rsaPubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	unsigned := func(header string, claims map[string]any) string {
		p, _ := json.Marshal(claims)
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc(p) + "."
	}
	for _, tc := range []struct {
		name        string
		body        func(t *testing.T) string
		contentType string                         // "" means the RFC 9701 media type
		edit        func(o *introspection.Options) // nil: none
		want        string                         // "" means success
	}{
		{name: "RS256", body: func(t *testing.T) string { return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, responseClaims()) }},
		{name: "PS256", body: func(t *testing.T) string { return sign(t, rsaKey(), jose.PS256, "rsa-1", typ, responseClaims()) }},
		{name: "ES256", body: func(t *testing.T) string { return sign(t, ecKey(), jose.ES256, "ec-1", typ, responseClaims()) }},
		{name: "EdDSA", body: func(t *testing.T) string { return sign(t, edKey(), jose.EdDSA, "ed-1", typ, responseClaims()) }},
		{name: "no kid", body: func(t *testing.T) string { return sign(t, ecKey(), jose.ES256, "", typ, responseClaims()) }},
		{name: "typ as media type, mixed case", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", "application/Token-Introspection+JWT", responseClaims())
		}},
		{name: "content-type with parameter", contentType: "Application/Token-Introspection+JWT; charset=utf-8", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, responseClaims())
		}},
		{name: "aud array", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["aud"] = []string{"other", "rs-acme"} }))
		}},
		{name: "no issuer configured: iss not checked", edit: func(o *introspection.Options) { o.Issuer = "" }, body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { delete(c, "iss") }))
		}},
		{name: "iat slightly ahead", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["iat"] = time.Now().Add(30 * time.Second).Unix() }))
		}},

		{name: "typ JWT", want: "typ", body: func(t *testing.T) string { return sign(t, rsaKey(), jose.RS256, "rsa-1", "JWT", responseClaims()) }},
		{name: "no typ", want: "typ", body: func(t *testing.T) string { return sign(t, rsaKey(), jose.RS256, "rsa-1", "", responseClaims()) }},
		{name: "alg none", want: "accepted alg", body: func(*testing.T) string {
			return unsigned(`{"alg":"none","typ":"token-introspection+jwt","kid":"rsa-1"}`, responseClaims())
		}},
		{name: "HS256 with the public key as secret", want: "accepted alg", body: func(t *testing.T) string {
			return sign(t, rsaPubPEM(), jose.HS256, "rsa-1", typ, responseClaims())
		}},
		{name: "bad signature", want: "signature does not verify", body: func(t *testing.T) string {
			return sign(t, rsaKey2(), jose.RS256, "rsa-1", typ, responseClaims())
		}},
		{name: "bad signature, no kid", want: "signature does not verify", body: func(t *testing.T) string {
			return sign(t, rsaKey2(), jose.RS256, "", typ, responseClaims())
		}},
		{name: "kid of a key of another type", want: "no key of the JWKS", body: func(t *testing.T) string {
			return sign(t, ecKey(), jose.ES256, "rsa-1", typ, responseClaims())
		}},
		{name: "tampered payload", want: "signature does not verify", body: func(t *testing.T) string {
			parts := strings.Split(sign(t, rsaKey(), jose.RS256, "rsa-1", typ, responseClaims()), ".")
			other := strings.Split(sign(t, rsaKey2(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["aud"] = "x" })), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}},
		{name: "wrong iss", want: "iss", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["iss"] = testIssuer + "/" }))
		}},
		{name: "no iss", want: "iss", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { delete(c, "iss") }))
		}},
		{name: "wrong aud", want: "aud", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["aud"] = []string{"rs-other"} }))
		}},
		{name: "no aud", want: "aud", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { delete(c, "aud") }))
		}},
		{name: "no iat", want: "iat", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { delete(c, "iat") }))
		}},
		{name: "iat null", want: "iat", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["iat"] = nil }))
		}},
		{name: "iat in the future", want: "iat", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }))
		}},
		{name: "no token_introspection", want: "token_introspection", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { delete(c, "token_introspection") }))
		}},
		{name: "token_introspection not an object", want: "token_introspection", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["token_introspection"] = "active" }))
		}},
		{name: "token_introspection with a wrong claim type", want: `"active"`, body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, edit(func(c map[string]any) { c["token_introspection"] = map[string]any{"active": "true"} }))
		}},
		{name: "wrong content-type", contentType: "application/json", want: "content-type", body: func(t *testing.T) string {
			return sign(t, rsaKey(), jose.RS256, "rsa-1", typ, responseClaims())
		}},
		{name: "plain JSON body", want: "compact JWS", body: func(*testing.T) string { return activeBody }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newJWTAS(t, defaultKeys()...)
			ct := tc.contentType
			if ct == "" {
				ct = introspection.JWTResponseMediaType
			}
			as.respond(ct, tc.body(t))
			opts := as.options()
			if tc.edit != nil {
				tc.edit(&opts)
			}
			res, err := introspect(t, newClient(t, opts), testToken)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !res.Claims.Active || res.Claims.Subject != "user-1" || res.Claims.ScopeString() != "a b" {
					t.Errorf("claims = %+v", res.Claims)
				}
				if got := as.Requests()[0].Header.Get("Accept"); got != introspection.JWTResponseMediaType {
					t.Errorf("Accept = %q", got)
				}
				return
			}
			err = mustFail(t, res, err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tenant acme") {
				t.Errorf("error = %q, want it to mention %q and the tenant", err, tc.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %q", err)
			}
		})
	}
}

func TestJWTResponseInactive(t *testing.T) {
	t.Parallel()
	as := newJWTAS(t, defaultKeys()...)
	as.respond(introspection.JWTResponseMediaType, sign(t, rsaKey(), jose.RS256, "rsa-1", typ,
		edit(func(c map[string]any) { c["token_introspection"] = map[string]any{"active": false} })))
	res := mustIntrospect(t, newClient(t, as.options()), testToken)
	if res.Claims.Active {
		t.Error("an inactive token came back active")
	}
}

func TestJWTResponseOptionErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(o *introspection.Options)
		want string
	}{
		{"no jwks_url", func(o *introspection.Options) { o.JWKSURL = "" }, "jwks_url"},
		{"relative jwks_url", func(o *introspection.Options) { o.JWKSURL = "/jwks" }, "jwks_url"},
		{"no client_id", func(o *introspection.Options) {
			o.AuthMethod, o.ClientID, o.ClientSecret = introspection.AuthNone, "", ""
		}, "client_id"},
		{"unknown format", func(o *introspection.Options) { o.ResponseFormat = "xml" }, "response_format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := options("https://idp.acme.example/introspect")
			o.ResponseFormat, o.JWKSURL = "jwt", "https://idp.acme.example/jwks"
			tc.edit(&o)
			c, err := introspection.NewClient(o)
			if err == nil {
				c.Close()
				t.Fatal("NewClient accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}
