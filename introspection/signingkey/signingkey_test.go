package signingkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParse(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	sec1, _ := x509.MarshalECPrivateKey(p256)
	tests := []struct {
		name, alg, err string
		data           []byte
	}{
		{"rsa pkcs8", RS256, "", pemOf(t, "PRIVATE KEY", pkcs8(rsaKey))},
		{"rsa pkcs1", RS256, "", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		{"ec sec1", ES256, "", pemOf(t, "EC PRIVATE KEY", sec1)},
		{"ec pkcs8 after a certificate block", ES256, "", append(pemOf(t, "CERTIFICATE", []byte("x")), pemOf(t, "PRIVATE KEY", pkcs8(p256))...)},
		{"small rsa", "", "1024 bits", pemOf(t, "PRIVATE KEY", pkcs8(smallRSA))},
		{"p384", "", "P-256", pemOf(t, "PRIVATE KEY", pkcs8(p384))},
		{"ed25519", "", "unsupported key type", pemOf(t, "PRIVATE KEY", pkcs8(edKey))},
		{"not pem", "", "no PEM private key", []byte("secret-looking-bytes")},
		{"encrypted", "", "encrypted", pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3})},
		{"garbage der", "", "not a valid", pemOf(t, "PRIVATE KEY", []byte("garbage-key-bytes"))},
	}
	for _, tt := range tests {
		key, alg, err := Parse(tt.data)
		if tt.err == "" {
			if err != nil || key == nil || alg != tt.alg {
				t.Errorf("%s: %v %q %v", tt.name, key != nil, alg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "garbage-key-bytes") {
			t.Errorf("%s: the error quotes key material", tt.name)
		}
	}
}
