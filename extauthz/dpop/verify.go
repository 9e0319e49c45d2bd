// Package dpop verifies DPoP proofs (RFC 9449) at a resource server.
//
// The checks come in the two steps of tokengate's order of checks. Before
// introspection, Verifier.Verify checks the form of a proof: one compact JWS
// with typ dpop+jwt, an allowed asymmetric alg, a public jwk that verifies
// the signature, and the jti, htm, htu, iat and ath claims (RFC 9449 §4.3).
// After introspection, CheckBinding compares the proof's key with the
// token's cnf.jkt and Verifier.CheckReplay refuses a jti already used for
// the tenant.
//
// Everything here but a ReplayCache is pure: no I/O, no clock (the caller
// passes now), no logging. Signatures are verified by go-jose.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Request is what a proof is checked against. The caller owns it; Verify
// only reads it.
type Request struct {
	Method    string // the HTTP method, compared exactly with htm
	Scheme    string // "http" or "https"; ignored when the Verifier has an origin
	Authority string // host[:port]; ignored when the Verifier has an origin
	Path      string // the request path, normalized here like for routing
}

// Proof is what a proof that passed Verify asserts.
type Proof struct {
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the proof's jwk,
	// base64url without padding: what cnf.jkt must equal.
	Thumbprint string
	JTI        string    // the proof's jti, at most MaxJTIBytes of any bytes: hash or escape it before use in a key or log
	IssuedAt   time.Time // the proof's iat
}

// Verify checks the form of a DPoP proof: headers are the values of every
// DPoP header of the request (none or more than one is an error), token is
// the access token of the Authorization header, now the time to check iat
// against. It returns a *ProofError (errors.Is ErrInvalidProof) for any
// failure. It does not check the binding to the token (CheckBinding) nor
// replay (CheckReplay). It does no I/O, keeps nothing it is given and may be
// called concurrently.
func (v *Verifier) Verify(headers []string, req Request, token string, now time.Time) (Proof, error) {
	compact, perr := single(headers)
	if perr != nil {
		return Proof{}, perr
	}
	header, perr := splitCompact(compact)
	if perr != nil {
		return Proof{}, perr
	}
	alg, rawJWK, perr := v.checkHeader(header)
	if perr != nil {
		return Proof{}, perr
	}
	// go-jose parses the header again (refusing duplicate members) and the
	// jwk with it: a public key only, EC points on their curve.
	jws, err := jose.ParseSignedCompact(compact, v.joseAlgs)
	if err != nil {
		return Proof{}, parseError(rawJWK, err)
	}
	if len(jws.Signatures) != 1 || jws.Signatures[0].Header.Algorithm != alg || jws.Signatures[0].Header.JSONWebKey == nil {
		return Proof{}, invalid("DPoP proof is not a well-formed JWS", nil)
	}
	jwk := jws.Signatures[0].Header.JSONWebKey
	if perr := checkKey(jwk, supported[alg]); perr != nil {
		return Proof{}, perr
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return Proof{}, invalid("DPoP proof signature does not verify", err)
	}
	c, perr := parseClaims(payload)
	if perr != nil {
		return Proof{}, perr
	}
	if perr := v.checkClaims(c, req, token, now); perr != nil {
		return Proof{}, perr
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Proof{}, invalid("DPoP proof jwk has no thumbprint", err)
	}
	return Proof{Thumbprint: base64.RawURLEncoding.EncodeToString(tp), JTI: c.jti, IssuedAt: c.iat}, nil
}

// single returns the one proof among the DPoP header values. Envoy joins
// repeated headers with ",", which never occurs in a compact JWS.
func single(headers []string) (string, *ProofError) {
	switch len(headers) {
	case 0:
		return "", invalid("DPoP proof is missing", nil)
	case 1:
	default:
		return "", invalid("more than one DPoP header", nil)
	}
	p := strings.Trim(headers[0], " \t")
	switch {
	case p == "":
		return "", invalid("DPoP proof is missing", nil)
	case len(p) > MaxProofBytes:
		return "", invalid("DPoP proof is too large", nil)
	case p[0] == '{':
		return "", invalid("DPoP proof must use the JWS compact serialization", nil)
	case strings.IndexByte(p, ',') >= 0:
		return "", invalid("more than one DPoP header", nil)
	}
	return p, nil
}

// splitCompact checks that s is header.payload.signature, each part
// base64url without padding (Go's decoder would skip line breaks), and
// returns the header part. go-jose parses the whole again.
func splitCompact(s string) (string, *ProofError) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", invalid("DPoP proof is not a compact JWS (three parts)", nil)
	}
	for _, p := range parts {
		if !isBase64URL(p) {
			return "", invalid("DPoP proof is not base64url", nil)
		}
	}
	if parts[2] == "" {
		return "", invalid("DPoP proof is not signed", nil)
	}
	return parts[0], nil
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

// privateMembers are the JWK members of private or symmetric keys (RFC 7518
// §6, and "priv" of other key types).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// checkHeader checks the protected header and returns its alg and jwk.
func (v *Verifier) checkHeader(b64 string) (string, json.RawMessage, *ProofError) {
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, invalid("DPoP proof is not base64url", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return "", nil, invalid("DPoP proof header is not a JSON object", err)
	}
	var typ, alg string
	if !stringMember(h, "typ", &typ) || typ != "dpop+jwt" {
		return "", nil, invalid("DPoP proof typ is not dpop+jwt", nil)
	}
	if _, ok := h["crit"]; ok {
		return "", nil, invalid("DPoP proof must not have critical (crit) headers", nil)
	}
	if _, ok := h["b64"]; ok {
		return "", nil, invalid("DPoP proof must not have a b64 header", nil)
	}
	if _, ok := h["cty"]; ok {
		return "", nil, invalid("DPoP proof must not be a nested JWT (cty)", nil)
	}
	if !stringMember(h, "alg", &alg) {
		return "", nil, invalid("DPoP proof alg is missing", nil)
	}
	kind, ok := supported[alg]
	if !ok || !slices.Contains(v.algs, alg) {
		return "", nil, invalid("DPoP proof alg is not allowed", nil)
	}
	return alg, h["jwk"], checkJWKMembers(h["jwk"], kind)
}

// checkJWKMembers checks the header's jwk before go-jose reads it: an
// object without private members, of the key type and curve alg needs.
func checkJWKMembers(raw json.RawMessage, kind keyKind) *ProofError {
	var members map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &members) != nil || members == nil {
		return invalid("DPoP proof jwk is missing or not a JSON object", nil)
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return invalid("DPoP proof jwk must be a public key", nil)
		}
	}
	var kty, crv string
	stringMember(members, "kty", &kty)
	stringMember(members, "crv", &crv)
	if kty != kind.kty || crv != kind.curve {
		return invalid("DPoP proof jwk does not fit its alg", nil)
	}
	return nil
}

// parseError describes why go-jose refused a proof whose header passed
// checkHeader: most likely its jwk, which is then read alone to tell.
func parseError(rawJWK json.RawMessage, err error) *ProofError {
	var k jose.JSONWebKey
	if k.UnmarshalJSON(rawJWK) != nil || !k.Valid() {
		return invalid("DPoP proof jwk is not a valid public key", err)
	}
	return invalid("DPoP proof is not a well-formed JWS", err)
}

// checkKey checks the key go-jose read: public, of the kind alg needs (by
// its Go type, whatever the JSON said), RSA of at least MinRSABits.
func checkKey(jwk *jose.JSONWebKey, kind keyKind) *ProofError {
	if !jwk.Valid() || !jwk.IsPublic() {
		return invalid("DPoP proof jwk is not a valid public key", nil)
	}
	var fits bool
	switch k := jwk.Key.(type) {
	case *ecdsa.PublicKey:
		fits = kind.kty == "EC" && k.Curve.Params().Name == kind.curve
	case *rsa.PublicKey:
		if kind.kty == "RSA" && k.N.BitLen() < MinRSABits {
			return invalid("DPoP proof jwk RSA key is shorter than 2048 bits", nil)
		}
		fits = kind.kty == "RSA"
	case ed25519.PublicKey:
		fits = kind.kty == "OKP" && kind.curve == "Ed25519"
	}
	if !fits {
		return invalid("DPoP proof jwk does not fit its alg", nil)
	}
	return nil
}

// maxIAT bounds iat (year 5138) so that it converts to a time exactly.
const maxIAT = 1e11

// claims are the proof's claims tokengate checks.
type claims struct {
	jti, htm, htu, ath string
	iat                time.Time
}

// parseClaims reads the verified payload: a JSON object with jti, htm, htu
// and ath strings and a numeric iat.
func parseClaims(payload []byte) (claims, *ProofError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return claims{}, invalid("DPoP proof claims are not a JSON object", err)
	}
	var c claims
	for _, f := range []struct {
		name string
		dst  *string
	}{{"jti", &c.jti}, {"htm", &c.htm}, {"htu", &c.htu}, {"ath", &c.ath}} {
		if _, ok := m[f.name]; !ok || isNull(m[f.name]) {
			return claims{}, invalid("DPoP proof "+f.name+" is missing", nil)
		}
		if !stringMember(m, f.name, f.dst) {
			return claims{}, invalid("DPoP proof "+f.name+" is not a string", nil)
		}
	}
	raw, ok := m["iat"]
	if !ok || isNull(raw) {
		return claims{}, invalid("DPoP proof iat is missing", nil)
	}
	var iat float64
	if err := json.Unmarshal(raw, &iat); err != nil || !(iat >= 0 && iat <= maxIAT) {
		return claims{}, invalid("DPoP proof iat is not a NumericDate", err)
	}
	sec, frac := math.Modf(iat)
	c.iat = time.Unix(int64(sec), int64(frac*1e9))
	return c, nil
}

// checkClaims applies the claim checks of RFC 9449 §4.3 in the contract's
// order: jti, htm, htu, iat, ath.
func (v *Verifier) checkClaims(c claims, req Request, token string, now time.Time) *ProofError {
	switch {
	case c.jti == "":
		return invalid("DPoP proof jti is empty", nil)
	case len(c.jti) > MaxJTIBytes:
		return invalid("DPoP proof jti is too long", nil)
	case c.htm != req.Method:
		return invalid("DPoP proof htm does not match the request method", nil)
	case !v.matchHTU(c.htu, req):
		return invalid("DPoP proof htu does not match the request", nil)
	case c.iat.Before(now.Add(-v.maxAge - v.leeway)):
		return invalid("DPoP proof is too old (iat)", nil)
	case c.iat.After(now.Add(v.leeway)):
		return invalid("DPoP proof is issued in the future (iat)", nil)
	case subtle.ConstantTimeCompare([]byte(c.ath), []byte(AccessTokenHash(token))) != 1:
		return invalid("DPoP proof ath does not match the access token", nil)
	}
	return nil
}

// matchHTU compares htu with the request (or the configured origin) per
// RFC 3986 §6.
func (v *Verifier) matchHTU(htu string, req Request) bool {
	got, gotPath, ok := parseHTU(htu)
	if !ok {
		return false
	}
	want := v.origin
	if !v.hasOrigin {
		if want, ok = parseAuthority(req.Scheme, req.Authority); !ok {
			return false
		}
	}
	wantPath, ok := requestPath(req.Path)
	return ok && got == want && equalPath(gotPath, wantPath)
}

// AccessTokenHash is the ath of a proof for token: base64url without
// padding of its SHA-256.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// stringMember sets *dst to the JSON string m[name] and reports whether it
// is one.
func stringMember(m map[string]json.RawMessage, name string, dst *string) bool {
	raw, ok := m[name]
	return ok && len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, dst) == nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }
