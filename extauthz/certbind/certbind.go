// Package certbind checks RFC 8705 certificate-bound access tokens: the
// SHA-256 thumbprint of the client certificate that Envoy (or a trusted
// proxy) forwards must equal the token's cnf["x5t#S256"].
//
// The certificate arrives as Envoy sends it in
// attributes.source.certificate with include_peer_certificate: true, and as
// nginx's $ssl_client_escaped_cert: a PEM, URL-encoded (percent-encoding per
// RFC 3986; a "+" is a plus sign, not a space). A raw PEM is read too.
//
// Everything here is pure, allocation-light and safe for concurrent use.
// Errors never quote the certificate.
package certbind

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxEncodedBytes bounds the encoded certificate; a longer value is refused
// before it is decoded.
const MaxEncodedBytes = 32 << 10

var (
	// ErrNoCertificate: the request carries no client certificate.
	ErrNoCertificate = errors.New("no client certificate")
	// ErrMalformed is wrapped by every error about a certificate that
	// cannot be read; the wrapping error says why.
	ErrMalformed = errors.New("client certificate is malformed")
	// ErrMismatch: the certificate is not the one the token is bound to.
	ErrMismatch = errors.New("client certificate does not match the token's x5t#S256")
)

// Thumbprint returns base64url (no padding) of the SHA-256 of the DER of
// the client certificate in encoded (URL-encoded PEM). When the PEM holds
// more than one block, the first is used: it is the leaf, the client's own
// certificate (Envoy and nginx send only that; a chain lists it first), and
// the rest is ignored. The first block must be a CERTIFICATE that parses as
// X.509.
func Thumbprint(encoded string) (string, error) {
	encoded = strings.TrimSpace(encoded)
	switch {
	case encoded == "":
		return "", ErrNoCertificate
	case len(encoded) > MaxEncodedBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxEncodedBytes)
	}
	text, err := url.PathUnescape(encoded)
	if err != nil {
		return "", fmt.Errorf("%w: not URL-encoded (a broken %% escape)", ErrMalformed)
	}
	block, _ := pem.Decode([]byte(text))
	switch {
	case block == nil:
		return "", fmt.Errorf("%w: not PEM", ErrMalformed)
	case block.Type != "CERTIFICATE":
		return "", fmt.Errorf("%w: the first PEM block is not a CERTIFICATE", ErrMalformed)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%w: not an X.509 certificate: %w", ErrMalformed, err)
	}
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Verify checks that the client certificate in encoded has the thumbprint
// x5tS256 (the token's cnf["x5t#S256"]), compared in constant time. Any
// error means reason certificate_mismatch: ErrNoCertificate, an error
// wrapping ErrMalformed, or ErrMismatch (also for an empty x5tS256).
func Verify(encoded, x5tS256 string) error {
	got, err := Thumbprint(encoded)
	if err != nil {
		return err
	}
	if x5tS256 == "" || subtle.ConstantTimeCompare([]byte(got), []byte(x5tS256)) != 1 {
		return ErrMismatch
	}
	return nil
}
