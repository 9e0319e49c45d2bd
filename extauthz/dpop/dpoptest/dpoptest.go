// Package dpoptest is a DPoP client for tests (RFC 9449): key pairs, the
// proofs a client sends, and proofs bent in every way a hostile client can,
// signed by go-jose. The check, adapter, in-process, real-peer and
// black-box (e2e) tests share it; it never imports package dpop, whose own
// tests may use it.
//
// Concurrency: a Key is immutable and safe for concurrent use; keys are
// generated once per test binary and algorithm (NewKey hands out the same
// one) unless Fresh asks for another.
package dpoptest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url: what a
// DPoP-bound token's cnf.jkt holds.
func (k *Key) Thumbprint() string {
	tp, err := k.pub.Thumbprint(crypto.SHA256)
	if err != nil {
		panic("dpoptest: thumbprint: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Proof is a fresh, valid proof for a request (method, htu) carrying
// token: iat now, a random jti.
func (k *Key) Proof(tb testing.TB, method, htu, token string) string {
	tb.Helper()
	return k.Sign(tb, nil, Claims(method, htu, token, time.Now()))
}

// Claims are the claims of a valid proof: a random jti, htm, htu, iat and
// ath. Change or delete members for a bent proof.
func Claims(method, htu, token string, iat time.Time) map[string]any {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti) // never fails (crypto/rand documents it)
	return map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"htm": method,
		"htu": htu,
		"iat": iat.Unix(),
		"ath": AccessTokenHash(token),
	}
}

// Sign makes a compact JWS of claims (a JSON value) with k. Its protected
// header is alg, typ dpop+jwt and the public jwk, each replaced by the
// member of the same name in header (a nil value leaves it out), plus
// header's other members.
func (k *Key) Sign(tb testing.TB, header map[string]any, claims any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return k.SignPayload(tb, header, payload)
}

// SignPayload is Sign with the payload bytes as they are (not JSON, say).
func (k *Key) SignPayload(tb testing.TB, header map[string]any, payload []byte) string {
	tb.Helper()
	h := map[string]any{"typ": "dpop+jwt", "jwk": k.JWK(), "alg": k.alg}
	for name, v := range header {
		h[name] = v
	}
	opts := &jose.SignerOptions{}
	for name, v := range h {
		if v != nil {
			opts.WithHeader(jose.HeaderKey(name), v)
		}
	}
	var compact string
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: k.priv}, opts)
	if err == nil {
		var jws *jose.JSONWebSignature
		if jws, err = signer.Sign(payload); err == nil {
			compact, err = jws.CompactSerialize()
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	return compact
}

// AccessTokenHash is a proof's ath for token: base64url of its SHA-256.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
