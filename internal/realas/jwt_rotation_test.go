package realas

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// TestJWTKeyRotation rotates the signing key of an authorization server of
// its own: restarted on the same port (same issuer) with a new key first
// in its JWKS, the old one second. tokengate, with the key set from
// discovery, accepts the new kid by refetching the JWKS.
func TestJWTKeyRotation(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := writeSigningKey(t, dir, "rotation-a"), writeSigningKey(t, dir, "rotation-b")
	cur, err := startProviderWith(t, providerOptions{signingKeys: []signingKey{keyA}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authorization server stderr (%s):\n%s", cur.Issuer, cur.stderr)
		}
		cur.stop()
	})
	first := cur
	tenants := jwtTenant(first, "rotation", "local", "", "", fmt.Sprintf("[%q]", jwtAudience), "")
	g := startGate(t, config(tenants, route("rot", "rotation", "rot.jwt.test")))

	tokA := first.getToken(t, jwtResource, "orders.read")
	unusedA := first.getToken(t, jwtResource, "orders.read") // first used after the rotation
	if h, _ := jwsParts(t, tokA.AccessToken); h["kid"] != keyA.kid {
		t.Fatalf("kid %v, want %s", h["kid"], keyA.kid)
	}
	expect(t, "key A token", g.check(t, "GET", "rot.jwt.test", "/orders", tokA.AccessToken), 200, "allowed")

	// Rotate: same port, keys [B, A].
	u, err := url.Parse(first.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(u.Port(), &port)
	first.stop()
	rotated := time.Now()
	second, err := startProviderWith(t, providerOptions{port: port, signingKeys: []signingKey{keyB, keyA}})
	if err != nil {
		t.Fatalf("restarting the authorization server on port %d: %v", port, err)
	}
	cur = second
	if second.Issuer != first.Issuer || second.JWKS != first.JWKS {
		t.Fatalf("restarted as %s (jwks %s), want %s (%s)", second.Issuer, second.JWKS, first.Issuer, first.JWKS)
	}
	tokB := second.getToken(t, jwtResource, "orders.read")
	if h, _ := jwsParts(t, tokB.AccessToken); h["kid"] != keyB.kid {
		t.Fatalf("after rotation kid %v, want %s", h["kid"], keyB.kid)
	}

	// The new kid is unknown to tokengate's key set: it refetches (at most
	// once per 10 s, so allow for that) and then accepts it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := g.check(t, "GET", "rot.jwt.test", "/orders", tokB.AccessToken)
		if r.allow {
			expect(t, "key B token", r, 200, "allowed")
			t.Logf("key B accepted %s after the rotation", time.Since(rotated).Round(10*time.Millisecond))
			break
		}
		expect(t, "key B token before the JWKS is refetched", r, 401, "invalid_signature")
		if time.Now().After(deadline) {
			t.Fatalf("a token with the new kid is still refused %s after the rotation", time.Since(rotated))
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The old key stays in the set: its tokens still pass.
	expect(t, "key A token first used after the rotation", g.check(t, "GET", "rot.jwt.test", "/orders", unusedA.AccessToken), 200, "allowed")
	// A kid in neither set is still refused.
	for name, forged := range forgeries(t, tokB.AccessToken) {
		expect(t, name, g.check(t, "GET", "rot.jwt.test", "/orders", forged), 401, "invalid_signature")
	}
}

// writeSigningKey writes a new RSA key (PKCS#8 PEM) for the provider.
func writeSigningKey(t *testing.T, dir, kid string) signingKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, kid+".pem")
	if err := writeKeyPEM(file, "PRIVATE KEY", func() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(key) }); err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, file: file}
}
