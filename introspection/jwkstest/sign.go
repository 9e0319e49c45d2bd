package jwkstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
)

// Encode is the base64url (no padding) form of b.
func Encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// SignRaw returns the compact JWS Encode(header).Encode(payload).signature
// made with key for alg: RS256 and PS256 (*rsa.PrivateKey), ES256
// (*ecdsa.PrivateKey on P-256), EdDSA (ed25519.PrivateKey).
// header and payload are signed as given, unchecked.
func SignRaw(key any, alg string, header, payload []byte) (string, error) {
	input := Encode(header) + "." + Encode(payload)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		switch alg {
		case "RS256":
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		case "PS256":
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		default:
			err = errors.New("RSA keys sign RS256 and PS256 only")
		}
	case *ecdsa.PrivateKey:
		var r, s []byte
		if r, s, err = signEC(k, sum[:]); err == nil {
			sig = append(r, s...)
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		err = fmt.Errorf("unsupported key type %T", key)
	}
	if err != nil {
		return "", err
	}
	return input + "." + Encode(sig), nil
}

// signEC signs digest with k (P-256) and returns r and s as 32 bytes each.
func signEC(k *ecdsa.PrivateKey, digest []byte) (r, s []byte, err error) {
	ri, si, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, nil, err
	}
	return ri.FillBytes(make([]byte, 32)), si.FillBytes(make([]byte, 32)), nil
}

// MustSignRaw is SignRaw failing the test on error.
func MustSignRaw(t testing.TB, key any, alg string, header, payload []byte) string {
	t.Helper()
	s, err := SignRaw(key, alg, header, payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
