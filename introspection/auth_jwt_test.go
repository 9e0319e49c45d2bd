package introspection_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/jwkstest"
)

// The test binary's keys, generated once (RSA generation is slow under the
// race detector).
var (
	rsaKey  = jwkstest.RSAKey
	rsaKey2 = jwkstest.RSAKey2
	ecKey   = jwkstest.ECKey
	edKey   = jwkstest.EdKey
)

// writePEM writes der as one PEM block of type typ and returns the path.
func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func sec1(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// assertionAS is a fake authorization server that verifies every client
// assertion with pub and records the jti values it saw.
type assertionAS struct {
	*introspectiontest.Server
	mu   sync.Mutex
	jtis []string
}

// newAssertionAS expects assertions with audience aud, or with its own
// URL + "/introspect" when aud is "".
func newAssertionAS(t *testing.T, pub crypto.PublicKey, alg jose.SignatureAlgorithm, kid, aud string) *assertionAS {
	a := &assertionAS{}
	a.Server = newAS(t, func(w http.ResponseWriter, r *http.Request) {
		want := aud
		if want == "" {
			want = a.URL + "/introspect"
		}
		if err := a.check(r, pub, alg, kid, want); err != nil {
			t.Errorf("assertion: %v", err)
			introspectiontest.Reply(401, `{"error":"invalid_client"}`)(w, r)
			return
		}
		introspectiontest.Reply(200, activeBody)(w, r)
	})
	return a
}

func (a *assertionAS) check(r *http.Request, pub crypto.PublicKey, alg jose.SignatureAlgorithm, kid, aud string) error {
	if got := r.PostForm.Get("client_assertion_type"); got != introspection.AssertionType {
		return fmt.Errorf("client_assertion_type = %q", got)
	}
	if got := r.PostForm.Get("client_id"); got != "rs-acme" {
		return fmt.Errorf("client_id = %q", got)
	}
	if r.PostForm.Has("client_secret") || r.Header.Get("Authorization") != "" {
		return fmt.Errorf("a secret was sent too: form %v, Authorization %q", r.PostForm, r.Header.Get("Authorization"))
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{alg})
	if err != nil {
		return fmt.Errorf("parse: %v", err)
	}
	h := tok.Headers[0]
	if h.KeyID != kid {
		return fmt.Errorf("kid = %q, want %q", h.KeyID, kid)
	}
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "JWT" {
		return fmt.Errorf("typ = %v, want JWT", typ)
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	if c.Issuer != "rs-acme" || c.Subject != "rs-acme" {
		return fmt.Errorf("iss = %q, sub = %q, want rs-acme", c.Issuer, c.Subject)
	}
	if len(c.Audience) != 1 || c.Audience[0] != aud {
		return fmt.Errorf("aud = %v, want [%s]", c.Audience, aud)
	}
	if c.ID == "" || c.IssuedAt == nil || c.Expiry == nil {
		return fmt.Errorf("jti, iat or exp missing: %+v", c)
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life <= 0 || life > 60*time.Second {
		return fmt.Errorf("exp - iat = %s, want (0, 60s]", life)
	}
	if d := time.Since(c.IssuedAt.Time()); d < -2*time.Second || d > 10*time.Second {
		return fmt.Errorf("iat is %s away from now", d)
	}
	if err := c.Validate(jwt.Expected{Issuer: "rs-acme", AnyAudience: jwt.Audience{aud}}); err != nil {
		return fmt.Errorf("validate: %v", err)
	}
	a.mu.Lock()
	a.jtis = append(a.jtis, c.ID)
	a.mu.Unlock()
	return nil
}

func (a *assertionAS) seenJTIs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.jtis...)
}

func jwtOptions(url, keyFile string) introspection.Options {
	o := options(url)
	o.AuthMethod = introspection.AuthPrivateKeyJWT
	o.ClientSecret = ""
	o.PrivateKeyFile = keyFile
	return o
}

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pemType  string
		der      func(t *testing.T) []byte
		pub      crypto.PublicKey
		alg      jose.SignatureAlgorithm
		kid      string
		audience string
	}{
		{"RSA PKCS#8", "PRIVATE KEY", func(t *testing.T) []byte { return pkcs8(t, rsaKey()) }, rsaKey().Public(), jose.RS256, "", ""},
		{"RSA PKCS#1 with kid", "RSA PRIVATE KEY", func(*testing.T) []byte { return x509.MarshalPKCS1PrivateKey(rsaKey()) }, rsaKey().Public(), jose.RS256, "key-2024", ""},
		{"EC SEC1 with kid", "EC PRIVATE KEY", func(t *testing.T) []byte { return sec1(t, ecKey()) }, ecKey().Public(), jose.ES256, "ec-1", ""},
		{"EC PKCS#8 custom audience", "PRIVATE KEY", func(t *testing.T) []byte { return pkcs8(t, ecKey()) }, ecKey().Public(), jose.ES256, "", "https://idp.acme.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keyFile := writePEM(t, tc.pemType, tc.der(t))
			as := newAssertionAS(t, tc.pub, tc.alg, tc.kid, tc.audience)
			opts := jwtOptions(as.URL+"/introspect", keyFile)
			opts.KeyID = tc.kid
			opts.AssertionAudience = tc.audience
			c := newClient(t, opts)
			for range 2 {
				res := mustIntrospect(t, c, testToken)
				if !res.Claims.Active {
					t.Fatal("not active")
				}
			}
			jtis := as.seenJTIs()
			if len(jtis) != 2 || jtis[0] == jtis[1] {
				t.Errorf("jtis = %v, want 2 different ones", jtis)
			}
		})
	}
}

func TestPrivateKeyJWTFreshAssertionPerAttempt(t *testing.T) {
	t.Parallel()
	var calls int
	var mu sync.Mutex
	as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			hangUp(t, w, true) // a connection failure: the client retries
			return
		}
		introspectiontest.Reply(200, activeBody)(w, r)
	})
	c := newClient(t, jwtOptions(as.URL, writePEM(t, "PRIVATE KEY", pkcs8(t, ecKey()))))
	mustIntrospect(t, c, testToken)
	reqs := as.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one retry)", len(reqs))
	}
	if a, b := reqs[0].Form.Get("client_assertion"), reqs[1].Form.Get("client_assertion"); a == "" || a == b {
		t.Error("the retry reused the client assertion (and so its jti)")
	}
}

func TestPrivateKeyJWTKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	derFile := filepath.Join(dir, "key.der")
	if err := os.WriteFile(derFile, x509.MarshalPKCS1PrivateKey(rsaKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		// Which keys are refused is signingkey.Parse's (see its tests);
		// here: that its errors reach NewClient, naming the tenant.
		{"ed25519", writePEM(t, "PRIVATE KEY", pkcs8(t, edKey())), "unsupported key type"},
		{"RSA as DER, not PEM", derFile, "no PEM private key"},
		{"garbage in PEM", writePEM(t, "PRIVATE KEY", []byte("not a key")), "not a valid"},
		{"encrypted", writePEM(t, "ENCRYPTED PRIVATE KEY", []byte("x")), "encrypted"},
		{"missing file", filepath.Join(dir, "nope.pem"), "private_key_file"},
		{"no file", "", "needs private_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := introspection.NewClient(jwtOptions("https://idp.acme.example/introspect", tc.file))
			if err == nil {
				c.Close()
				t.Fatal("NewClient accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"acme"`) {
				t.Errorf("error = %q, want it to mention %q and the tenant", err, tc.want)
			}
		})
	}
	t.Run("no client_id", func(t *testing.T) {
		t.Parallel()
		o := jwtOptions("https://idp.acme.example/introspect", writePEM(t, "PRIVATE KEY", pkcs8(t, ecKey())))
		o.ClientID = ""
		if _, err := introspection.NewClient(o); err == nil || !strings.Contains(err.Error(), "client_id") {
			t.Errorf("err = %v, want one about client_id", err)
		}
	})
}
