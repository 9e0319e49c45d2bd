// Package jwtaccess checks JWT access tokens (RFC 9068) locally: that a
// token is an authentic, well-formed JWS from the tenant's issuer, signed
// by a key of the issuer's JWKS, with an allowed alg and typ, and with
// iss and exp present. It returns the token's claims as the same
// introspection.Claims an introspection response produces (Active true),
// so that the policy checks (exp/nbf with leeway, token type, audience,
// scopes, ...) stay in one place, the decision, for both paths.
//
// Errors say which check failed, for the caller to map to a reason:
//
//	ErrNotJWS           not a JWS: introspect it, or refuse it (invalid_token)
//	ErrInvalidSignature the JWS envelope: structure, encoding, header, alg,
//	                    typ, kid, key or signature (invalid_signature)
//	ErrIssuer           iss absent or not the issuer (issuer)
//	ErrInvalidClaims    payload not acceptable, exp absent (invalid_token)
//	ErrKeysUnavailable  no key set to verify with, or the context ended (503)
//
// Error messages never quote the token or any part of it.
package jwtaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
)

// Errors of Verify; each wraps a short cause.
var (
	ErrNotJWS           = errors.New("token is not a JWS in compact form")
	ErrInvalidSignature = errors.New("JWT signature not acceptable")
	ErrIssuer           = errors.New("JWT iss is absent or not the issuer")
	ErrInvalidClaims    = errors.New("JWT claims not acceptable")
	ErrKeysUnavailable  = errors.New("no key set to verify the JWT with")
)

// DefaultAlgorithms are the algs accepted when Options.Algorithms is nil.
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// DefaultTypes are the typ values accepted when Options.Types is nil
// (RFC 9068 §2.1).
var DefaultTypes = []string{"at+jwt", "application/at+jwt"}

// asymmetric is every alg a Verifier may be configured with: never "none",
// never an HMAC (whose key would be whatever the verifier holds, such as
// an RSA public key's bytes).
var asymmetric = map[jose.SignatureAlgorithm]bool{
	jose.RS256: true, jose.RS384: true, jose.RS512: true,
	jose.PS256: true, jose.PS384: true, jose.PS512: true,
	jose.ES256: true, jose.ES384: true, jose.ES512: true,
	jose.EdDSA: true,
}

// KeySource finds the keys that may have signed a JWS: *introspection.JWKS
// is one. Keys returns the keys fitting kid ("" = any) and alg, fetching
// the set when it lacks one (rate-limited) or when refresh is true. It
// returns an error wrapping introspection.ErrNoMatchingKey when no key
// fits; any other error means no decision is possible (503).
type KeySource interface {
	Keys(ctx context.Context, kid string, alg jose.SignatureAlgorithm, refresh bool) ([]jose.JSONWebKey, error)
}

// The JWKS cache is the KeySource tokengate uses.
var _ KeySource = (*introspection.JWKS)(nil)

// Options configures New.
type Options struct {
	// Issuer is the tenant's issuer; a token's iss must equal it exactly
	// (a trailing slash matters). Required.
	Issuer string
	// Algorithms are the accepted header algs; nil: DefaultAlgorithms.
	// Only asymmetric algs (RS*, PS*, ES*, EdDSA) may be listed.
	Algorithms []jose.SignatureAlgorithm
	// Types are the accepted header typ values, compared case-insensitively
	// with "application/" implied where a value has no "/" (RFC 7515
	// §4.1.9), so "at+jwt" and "application/at+jwt" are one type. nil:
	// DefaultTypes; an empty non-nil slice accepts any typ, or none.
	Types []string
	// Keys finds the verification keys. Required.
	Keys KeySource
}

// Verifier checks JWT access tokens of one issuer.
//
// Concurrency and ownership: a Verifier is immutable after New and safe
// for concurrent use; it copies the option slices, and shares Keys, which
// must be safe for concurrent use (*introspection.JWKS is). Verify keeps
// nothing of the tokens it is given.
type Verifier struct {
	issuer  string
	algs    []jose.SignatureAlgorithm
	types   map[string]bool // normalized; empty: any
	anyType bool
	keys    KeySource
}

// New returns a Verifier, or an error for a missing issuer or key source,
// or an alg that is unknown, "none" or an HMAC.
func New(opts Options) (*Verifier, error) {
	if opts.Issuer == "" {
		return nil, errors.New("jwtaccess: an issuer is required")
	}
	if opts.Keys == nil {
		return nil, errors.New("jwtaccess: a key source is required")
	}
	algs := opts.Algorithms
	if algs == nil {
		algs = DefaultAlgorithms
	}
	if len(algs) == 0 {
		return nil, errors.New("jwtaccess: at least one algorithm is required")
	}
	for _, a := range algs {
		if !asymmetric[a] {
			return nil, fmt.Errorf("jwtaccess: algorithm %q is not accepted: only RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA", a)
		}
	}
	types := opts.Types
	if types == nil {
		types = DefaultTypes
	}
	v := &Verifier{
		issuer:  opts.Issuer,
		algs:    append([]jose.SignatureAlgorithm(nil), algs...),
		types:   make(map[string]bool, len(types)),
		anyType: len(types) == 0,
		keys:    opts.Keys,
	}
	for _, t := range types {
		v.types[normalizeType(t)] = true
	}
	return v, nil
}

// normalizeType lowercases a typ or cty value and puts "application/"
// before one without a "/" (RFC 7515 §4.1.9).
func normalizeType(t string) string {
	t = strings.ToLower(t)
	if !strings.Contains(t, "/") {
		t = "application/" + t
	}
	return t
}

// Verify checks token and returns its claims, Active true. See the
// package documentation for the errors; the checks run in this order:
// form (ErrNotJWS), envelope and header, key and signature
// (ErrInvalidSignature or ErrKeysUnavailable), payload (ErrInvalidClaims),
// iss (ErrIssuer), exp present (ErrInvalidClaims). exp, nbf, aud and scope
// values are not judged here.
func (v *Verifier) Verify(ctx context.Context, token string) (*introspection.Claims, error) {
	payload, err := v.signedPayload(ctx, token)
	if err != nil {
		return nil, err
	}
	return v.claims(payload)
}

// signedPayload runs the checks Verify and VerifyPayload share: form
// (ErrNotJWS), envelope and header, key and signature (ErrInvalidSignature
// or ErrKeysUnavailable). It returns the payload the signature covers,
// not yet read.
func (v *Verifier) signedPayload(ctx context.Context, token string) ([]byte, error) {
	raw, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	h, err := v.checkHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	return v.verifySignature(ctx, token, h)
}

// verifySignature finds the keys for h and returns the payload one of
// them verifies. A kid-less token no cached key verifies gets one refresh
// of the set (within the key source's rate limit).
func (v *Verifier) verifySignature(ctx context.Context, token string, h header) ([]byte, error) {
	// The header passed checkHeader, so go-jose sees only what was
	// checked; it is given the one alg the header names.
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{h.alg})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a JWS go-jose accepts", ErrInvalidSignature)
	}
	refresh := false
	for {
		keys, err := v.keys.Keys(ctx, h.kid, h.alg, refresh)
		switch {
		case errors.Is(err, introspection.ErrNoMatchingKey):
			return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		for _, k := range keys {
			if payload, err := jws.Verify(k.Key); err == nil {
				return payload, nil
			}
		}
		if h.kid != "" || refresh {
			return nil, fmt.Errorf("%w: signature does not verify", ErrInvalidSignature)
		}
		refresh = true
	}
}

// claims parses the verified payload the way introspection responses are
// parsed, "active": true added, and checks that iss and exp are there.
func (v *Verifier) claims(payload []byte) (*introspection.Claims, error) {
	body, err := withActive(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	c, err := introspection.ParseClaims(body)
	if err != nil {
		// Deliberately not wrapping err: it wraps ErrIntrospection, which
		// callers read as an authorization server failure (503), while a
		// malformed token is the client's (401).
		why := strings.TrimPrefix(err.Error(), introspection.ErrIntrospection.Error()+": ")
		return nil, fmt.Errorf("%w: %s", ErrInvalidClaims, why)
	}
	if !c.Has("iss") || c.Issuer != v.issuer {
		return nil, ErrIssuer
	}
	if !c.Has("exp") {
		return nil, fmt.Errorf("%w: no exp", ErrInvalidClaims)
	}
	return c, nil
}
