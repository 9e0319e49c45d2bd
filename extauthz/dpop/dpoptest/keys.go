package dpoptest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key pair.
type Key struct {
	alg  string
	priv any             // *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey
	pub  jose.JSONWebKey // its public key
	jwk  map[string]any  // the public JWK members
}

var (
	keysMu sync.Mutex
	keys   = map[string]*Key{}
)

// NewKey returns the test binary's key for alg: ES256, ES384, RS256,
// PS256, EdDSA, or RSA1024 (an RS256 key of 1024 bits, too short for a
// proof). Generated on first use, then shared.
func NewKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[alg]; ok {
		return k
	}
	k := Fresh(tb, alg)
	keys[alg] = k
	return k
}

// Fresh returns a new key for alg (see NewKey), another client's.
func Fresh(tb testing.TB, alg string) *Key {
	tb.Helper()
	k := &Key{alg: alg}
	var err error
	switch alg {
	case "ES256":
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k.priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RS256", "PS256":
		k.priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA1024":
		k.priv, err = rsa.GenerateKey(rand.Reader, 1024)
		k.alg = "RS256"
	case "EdDSA":
		_, k.priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("dpoptest: no key for %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	private := jose.JSONWebKey{Key: k.priv}
	k.pub = private.Public()
	raw, err := k.pub.MarshalJSON()
	if err == nil {
		err = json.Unmarshal(raw, &k.jwk)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// JWK returns a copy of the public key's JWK members.
func (k *Key) JWK() map[string]any {
	m := make(map[string]any, len(k.jwk))
	for name, v := range k.jwk {
		m[name] = v
	}
	return m
}
