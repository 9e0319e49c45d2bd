package introspection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// JWTResponseMediaType is the Accept and Content-Type of an RFC 9701
	// signed introspection response.
	JWTResponseMediaType = "application/token-introspection+jwt"
	// MaxIssuedAtSkew is how far in the future a signed response's iat may
	// be, for clock differences with the authorization server.
	MaxIssuedAtSkew = 60 * time.Second
)

// responseAlgorithms are the JWS algorithms accepted for signed
// introspection responses: asymmetric ones only, so neither "none" nor an
// HMAC keyed with a public key can pass. Never modified.
var responseAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// jwtResponseVerifier checks RFC 9701 responses (response_format jwt) and
// returns their token_introspection member.
//
// It is immutable after construction and safe for concurrent use; its
// jwksFetcher does its own locking. Encrypted (JWE) responses are not
// supported. When issuer is "" (the tenant has none configured) the
// response's iss is not checked: the signature against the configured
// jwks_url then carries the trust on its own.
type jwtResponseVerifier struct {
	issuer   string // "": iss not checked
	audience string // the client_id, required in aud
	jwks     *jwksFetcher
	now      func() time.Time
}

// verify checks contentType and the signed body and returns the JSON of
// the token_introspection member, for ParseClaims. Errors are short,
// safe causes: nothing of the response is quoted.
func (v *jwtResponseVerifier) verify(ctx context.Context, contentType string, body []byte) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != JWTResponseMediaType {
		return nil, errors.New("response content-type is not " + JWTResponseMediaType)
	}
	jws, err := jose.ParseSignedCompact(string(bytes.TrimSpace(body)), responseAlgorithms)
	if err != nil {
		return nil, errors.New("response is not a compact JWS with an accepted alg (" + algList() + ")")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("response JWS must have exactly one signature")
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	typ = strings.ToLower(typ)
	if typ != "token-introspection+jwt" && typ != JWTResponseMediaType {
		return nil, errors.New("response JWS typ is not token-introspection+jwt")
	}
	alg := jose.SignatureAlgorithm(h.Algorithm)
	payload, err := v.verifySignature(ctx, jws, h.KeyID, alg)
	if err != nil {
		return nil, err
	}
	return v.checkClaims(payload)
}

// verifySignature tries the JWKS keys that fit kid and alg. A kid-less
// signature no cached key verifies gets one refresh of the set (within the
// fetcher's rate limit), as a kid the set lacks does inside candidates.
func (v *jwtResponseVerifier) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, kid string, alg jose.SignatureAlgorithm) ([]byte, error) {
	for _, refresh := range []bool{false, true} {
		keys, err := v.jwks.candidates(ctx, kid, alg, refresh)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if payload, err := jws.Verify(k.Key); err == nil {
				return payload, nil
			}
		}
		if kid != "" {
			break // the key with that kid is there and did not verify
		}
	}
	return nil, errors.New("response signature does not verify")
}

// checkClaims checks iss, aud and iat of the verified payload and returns
// token_introspection.
func (v *jwtResponseVerifier) checkClaims(payload []byte) ([]byte, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return nil, errors.New("response JWT payload is not a JSON object")
	}
	if v.issuer != "" {
		var iss string
		if json.Unmarshal(c["iss"], &iss) != nil || iss != v.issuer {
			return nil, errors.New("response JWT iss is not the tenant's issuer")
		}
	}
	if !audienceContains(c["aud"], v.audience) {
		return nil, errors.New("response JWT aud does not contain the client_id")
	}
	var iat *float64 // nil for null
	if json.Unmarshal(c["iat"], &iat) != nil || iat == nil {
		return nil, errors.New("response JWT has no numeric iat")
	}
	if *iat > float64(v.now().Add(MaxIssuedAtSkew).Unix()) {
		return nil, fmt.Errorf("response JWT iat is more than %s in the future", MaxIssuedAtSkew)
	}
	ti := bytes.TrimSpace(c["token_introspection"])
	if len(ti) == 0 || ti[0] != '{' {
		return nil, errors.New("response JWT has no token_introspection object")
	}
	return ti, nil
}

// audienceContains reports whether raw, a JSON string or array of strings,
// is or contains want.
func audienceContains(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}

func algList() string {
	names := make([]string, len(responseAlgorithms))
	for i, a := range responseAlgorithms {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}
