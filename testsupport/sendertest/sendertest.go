// Package sendertest is the client-certificate side of certificate-bound
// tokens (RFC 8705) in tests: the thumbprint an authorization server puts
// in cnf["x5t#S256"], and the certificate as Envoy forwards it. (DPoP
// proofs come from extauthz/dpop/dpoptest.) The real authorization-server
// tests (internal/realas) and the real nginx test (internal/nginxtest)
// share it.
package sendertest

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"strings"
)

// X5T is the RFC 8705 thumbprint of cert's leaf: base64url(SHA-256(DER)),
// what cnf["x5t#S256"] holds for a token bound to it.
func X5T(cert tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// EnvoyCertificate is cert's leaf as Envoy sends it in
// attributes.source.certificate with include_peer_certificate: true: its
// PEM with "\n", " ", "+", "/" and "=" percent-encoded, exactly the
// replacements of Envoy's urlEncodedPemEncodedPeerCertificate.
func EnvoyCertificate(cert tls.Certificate) string {
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	return strings.NewReplacer("\n", "%0A", " ", "%20", "+", "%2B", "/", "%2F", "=", "%3D").Replace(p)
}
