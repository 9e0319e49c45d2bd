package certbind

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// newCert returns a self-signed client certificate's PEM and thumbprint.
func newCert(tb testing.TB, name string) (string, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Unix(1_700_000_000, 0),
		NotAfter:     time.Unix(1_900_000_000, 0),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), base64.RawURLEncoding.EncodeToString(sum[:])
}

// envoyEncode is how Envoy URL-encodes the peer certificate
// (urlEncodedPemEncodedPeerCertificate).
var envoyEncode = strings.NewReplacer("\n", "%0A", " ", "%20", "+", "%2B", "/", "%2F", "=", "%3D").Replace

func TestThumbprint(t *testing.T) {
	leaf, want := newCert(t, "client")
	other, _ := newCert(t, "issuer")
	for name, encoded := range map[string]string{
		"envoy":                        envoyEncode(leaf),
		"every byte percent-encoded":   percentAll(leaf),
		"raw PEM":                      leaf,
		"surrounding whitespace":       " \n" + envoyEncode(leaf) + "\t",
		"chain, leaf first":            envoyEncode(leaf + other),
		"text before the block":        envoyEncode("subject=CN=client\n" + leaf),
		"lower-case percent encodings": strings.ReplaceAll(envoyEncode(leaf), "%2F", "%2f"),
	} {
		got, err := Thumbprint(encoded)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func TestThumbprintRefusesBadInput(t *testing.T) {
	leaf, _ := newCert(t, "client")
	der, _ := pem.Decode([]byte(leaf))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-key-bytes")}))
	cases := []struct {
		name, encoded string
		want          error
		detail        string
	}{
		{"empty", "", ErrNoCertificate, ""},
		{"whitespace", " \t\n", ErrNoCertificate, ""},
		{"too large", strings.Repeat("A", MaxEncodedBytes+1), ErrMalformed, "longer than"},
		{"broken escape", envoyEncode(leaf) + "%zz", ErrMalformed, "not URL-encoded"},
		{"truncated escape", "%2", ErrMalformed, "not URL-encoded"},
		{"not PEM", "hello", ErrMalformed, "not PEM"},
		{"base64 DER without PEM lines", base64.StdEncoding.EncodeToString(der.Bytes), ErrMalformed, "not PEM"},
		{"form-encoded (+ for space)", strings.ReplaceAll(envoyEncode(leaf), "%20", "+"), ErrMalformed, "not PEM"},
		{"truncated PEM", envoyEncode(leaf[:len(leaf)/2]), ErrMalformed, "not PEM"},
		{"a private key", envoyEncode(keyPEM), ErrMalformed, "not a CERTIFICATE"},
		{"a key before the certificate", envoyEncode(keyPEM + leaf), ErrMalformed, "not a CERTIFICATE"},
		{"not a certificate", envoyEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))), ErrMalformed, "not an X.509 certificate"},
		{"trailing bytes in the DER", envoyEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: append(der.Bytes, 0)}))), ErrMalformed, "not an X.509 certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Thumbprint(c.encoded)
			if got != "" || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("%q, %v; want %v (%s)", got, err, c.want, c.detail)
			}
			if strings.Contains(err.Error(), "secret-key") || strings.Contains(err.Error(), "BEGIN") {
				t.Fatalf("error quotes the input: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	leaf, want := newCert(t, "client")
	other, otherThumb := newCert(t, "other")
	if err := Verify(envoyEncode(leaf), want); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ encoded, x5t string }{
		"another certificate": {envoyEncode(other), want},
		"another thumbprint":  {envoyEncode(leaf), otherThumb},
		"empty thumbprint":    {envoyEncode(leaf), ""},
		"padded thumbprint":   {envoyEncode(leaf), want + "="},
		"hex thumbprint":      {envoyEncode(leaf), strings.Repeat("ab", 32)},
		"upper-cased":         {envoyEncode(leaf), strings.ToUpper(want)},
	} {
		if err := Verify(c.encoded, c.x5t); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Verify("", want); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("no certificate: %v", err)
	}
	if err := Verify("%", want); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}

// FuzzCertificate: any forwarded value gives a thumbprint or one of the
// package's errors; never a panic.
func FuzzCertificate(f *testing.F) {
	leaf, _ := newCert(f, "client")
	for _, s := range []string{envoyEncode(leaf), leaf, "", "%", "%zz", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", envoyEncode(leaf[:100])} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		got, err := Thumbprint(encoded)
		switch {
		case err == nil:
			if len(got) != 43 {
				t.Fatalf("thumbprint %q", got)
			}
			if Verify(encoded, got) != nil {
				t.Fatal("Verify disagrees with Thumbprint")
			}
		case !errors.Is(err, ErrNoCertificate) && !errors.Is(err, ErrMalformed):
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	leaf, want := newCert(b, "client")
	encoded := envoyEncode(leaf)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(encoded, want); err != nil {
			b.Fatal(err)
		}
	}
}
