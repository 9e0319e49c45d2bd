// Package signingkey reads the private key tokengate signs client
// assertions with (private_key_jwt), so that configuration validation and
// the introspection client accept exactly the same keys.
package signingkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA key accepted for RS256.
const MinRSABits = 2048

// Algorithms a key signs with.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Parse returns the first unencrypted PEM private key in data (PKCS#8,
// PKCS#1 or SEC1) and the algorithm it signs with: RS256 for RSA keys of at
// least MinRSABits, ES256 for P-256 keys. Errors describe the problem and
// never quote the key material.
func Parse(data []byte) (crypto.Signer, string, error) {
	var block *pem.Block
	for rest := data; ; {
		block, rest = pem.Decode(rest)
		if block == nil || strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	if block == nil {
		return nil, "", errors.New("holds no PEM private key")
	}
	if strings.Contains(block.Type, "ENCRYPTED") || block.Headers["Proc-Type"] != "" {
		return nil, "", errors.New("encrypted private keys are not supported")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil { // not wrapped: a parse error could quote key bytes
		return nil, "", errors.New("not a valid PKCS#8, PKCS#1 or SEC1 private key")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, "", fmt.Errorf("RSA key has %d bits, RS256 needs at least %d", k.N.BitLen(), MinRSABits)
		}
		return k, RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, "", errors.New("ECDSA key must use curve P-256 (ES256)")
		}
		return k, ES256, nil
	default:
		return nil, "", fmt.Errorf("unsupported key type %T (want RSA for RS256 or ECDSA P-256 for ES256)", key)
	}
}
