package events

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/testsupport"
)

const (
	issuer    = "https://idp.acme.example"
	clientID  = "rs-acme"
	ssfIssuer = "https://ssf.acme.example"
	audience  = "https://rs.acme.example"
)

var testNow = time.Unix(1_900_000_000, 0)

// fakeMarker records the marks it is given.
type fakeMarker struct {
	mu    sync.Mutex
	marks []revocation.Mark
	err   error
}

func (f *fakeMarker) Mark(_ context.Context, marks ...revocation.Mark) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	f.marks = append(f.marks, marks...)
	return len(marks), nil
}

func (f *fakeMarker) got() []revocation.Mark {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]revocation.Mark(nil), f.marks...)
}

// counts records Count calls as "tenant type result".
type counts struct {
	mu   sync.Mutex
	seen []string
}

func (c *counts) add(tenant, typ, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, tenant+" "+typ+" "+result)
}

func (c *counts) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return ""
	}
	return c.seen[len(c.seen)-1]
}

type fixture struct {
	h      *Handler
	marker *fakeMarker
	counts *counts
	srv    *jwkstest.Server
}

// newFixture is a Handler for tenant acme with both endpoints on, keys
// from a jwkstest server, the clock at testNow.
func newFixture(t *testing.T, rate int) *fixture {
	t.Helper()
	srv := jwkstest.NewServer(t, jwkstest.KeySet()...)
	keys, err := introspection.NewJWKS(introspection.JWKSOptions{URL: srv.JWKSURL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{marker: &fakeMarker{}, counts: &counts{}, srv: srv}
	f.h = New(Options{Marker: f.marker, Now: func() time.Time { return testNow }, Rate: rate, Count: f.counts.add})
	err = f.h.SetTenants([]Tenant{{
		Name: "acme", Issuer: issuer, ClientID: clientID, SSFIssuer: ssfIssuer, SSFAudience: audience,
		Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}, Keys: keys, TTL: time.Hour,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sign signs claims with the EC key (kid ec-1) and header typ ("": none).
func sign(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	return signWith(t, jwkstest.ECKey(), "ec-1", typ, claims)
}

func signWith(t *testing.T, key *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": "ES256", "kid": kid}
	if typ != "" {
		h["typ"] = typ
	}
	return jwkstest.MustSignRaw(t, key, "ES256", testsupport.MustJSON(t, h), testsupport.MustJSON(t, claims))
}

// logoutClaims is a valid logout token's claims.
func logoutClaims() map[string]any {
	return map[string]any{
		"iss": issuer, "aud": clientID, "iat": testNow.Unix(), "exp": testNow.Add(2 * time.Minute).Unix(),
		"jti": "jti-" + randomSuffix(), "sub": "user-1", "sid": "sess-1",
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
}

var suffix struct {
	sync.Mutex
	n int
}

func randomSuffix() string {
	suffix.Lock()
	defer suffix.Unlock()
	suffix.n++
	return strings.Repeat("x", suffix.n%3) + time.Now().Format("150405.000000000")
}

// postLogout posts a logout token form.
func (f *fixture) postLogout(t *testing.T, token string) *httptest.ResponseRecorder {
	t.Helper()
	body := url.Values{"logout_token": {token}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/events/acme/backchannel-logout", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// postSET pushes a SET.
func (f *fixture) postSET(t *testing.T, set string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/events/acme/ssf", strings.NewReader(set))
	r.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// errorOf reads the JSON error member (name "error" or "err").
func errorOf(t *testing.T, w *httptest.ResponseRecorder, name string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m[name]
}
