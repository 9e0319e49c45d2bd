package jwkstest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The test binary's keys, generated on first use: two RSA 2048 keys, an
// ECDSA P-256 key and an Ed25519 key.
var (
	RSAKey  = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
	RSAKey2 = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
	ECKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	EdKey   = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return mustKey(k, err)
	})
)

func mustKey[K any](k K, err error) K {
	if err != nil {
		panic("jwkstest: generating a key: " + err.Error())
	}
	return k
}

// KeySet is a key set of RSAKey as "rsa-1", ECKey as "ec-1" and EdKey as
// "ed-1", public halves, for signatures.
func KeySet() []jose.JSONWebKey {
	return []jose.JSONWebKey{JWK(RSAKey(), "rsa-1"), JWK(ECKey(), "ec-1"), JWK(EdKey(), "ed-1")}
}

// Clock is a manual clock for the Now options of JWKS caches: it moves
// only when told to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock showing the current time.
func NewClock() *Clock { return &Clock{t: time.Now()} }

// Now is the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
