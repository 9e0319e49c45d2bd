package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"maps"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/testsupport"
)

// The request and token every proof of these tests is made for.
var (
	testNow   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	testToken = "tok-abc.DEF_123"
	testReq   = Request{Method: "GET", Scheme: "https", Authority: "api.example.com", Path: "/orders/1"}
)

const testHTU = "https://api.example.com/orders/1"

// testKey is a private key and its public JWK members.
type testKey struct {
	alg    string
	signer any // *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey or []byte (HMAC)
	jwk    map[string]any
}

var (
	keysOnce sync.Once
	keys     map[string]*testKey
)

// key returns a test key for alg, generated once per test binary. "RSA1024"
// is an RS256 key that is too short.
func key(tb testing.TB, alg string) *testKey {
	tb.Helper()
	keysOnce.Do(func() {
		ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
		rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		keys = map[string]*testKey{
			"ES256":   {alg: "ES256", signer: ec256},
			"ES384":   {alg: "ES384", signer: ec384},
			"RS256":   {alg: "RS256", signer: rsa2048},
			"PS256":   {alg: "PS256", signer: rsa2048},
			"EdDSA":   {alg: "EdDSA", signer: ed},
			"RSA1024": {alg: "RS256", signer: rsa1024},
		}
		for _, k := range keys {
			k.jwk = publicJWK(k.signer.(crypto.Signer).Public())
		}
		keys["HS256"] = &testKey{alg: "HS256", signer: []byte("0123456789abcdef0123456789abcdef"),
			jwk: map[string]any{"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}}
	})
	k, ok := keys[alg]
	if !ok || k.signer == nil {
		tb.Fatalf("no test key %s", alg)
	}
	return k
}

func publicJWK(pub crypto.PublicKey) map[string]any {
	b, err := jose.JSONWebKey{Key: pub}.MarshalJSON()
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// standard returns the header and claims of a valid proof for testReq.
func (k *testKey) standard() (header, claims map[string]any) {
	header = map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": maps.Clone(k.jwk)}
	claims = map[string]any{
		"jti": "e1j3V_bKic8-LAEB",
		"htm": "GET",
		"htu": testHTU,
		"iat": testNow.Unix(),
		"ath": AccessTokenHash(testToken),
	}
	return header, claims
}

// proof signs a valid proof after letting edit change its header and claims.
func (k *testKey) proof(tb testing.TB, edit func(header, claims map[string]any)) string {
	tb.Helper()
	h, c := k.standard()
	if edit != nil {
		edit(h, c)
	}
	return k.sign(tb, testsupport.MustJSON(tb, h), testsupport.MustJSON(tb, c))
}

// sign makes a compact JWS of raw header and payload bytes with the key of
// k under the alg k is for (whatever the header says).
func (k *testKey) sign(tb testing.TB, header, payload []byte) string {
	tb.Helper()
	input := b64(header) + "." + b64(payload)
	return input + "." + b64(k.rawSign(tb, []byte(input)))
}

func (k *testKey) rawSign(tb testing.TB, input []byte) []byte {
	tb.Helper()
	var (
		sig []byte
		err error
	)
	switch key := k.signer.(type) {
	case *ecdsa.PrivateKey:
		var digest []byte
		if key.Curve == elliptic.P384() {
			d := sha512.Sum384(input)
			digest = d[:]
		} else {
			d := sha256.Sum256(input)
			digest = d[:]
		}
		r, s, e := ecdsa.Sign(rand.Reader, key, digest)
		size := (key.Curve.Params().BitSize + 7) / 8
		sig, err = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...), e
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		if k.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(key, input)
	case []byte:
		m := hmac.New(sha256.New, key)
		m.Write(input)
		sig = m.Sum(nil)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newTestVerifier(tb testing.TB, o Options) *Verifier {
	tb.Helper()
	v, err := NewVerifier(o)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
