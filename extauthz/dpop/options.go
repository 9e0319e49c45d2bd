package dpop

import (
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of the contract's sender_constraint section.
const (
	// DefaultMaxAge is how old a proof's iat may be, before leeway.
	DefaultMaxAge = 60 * time.Second
	// MaxProofBytes bounds the DPoP header value; a longer one is refused
	// before it is decoded.
	MaxProofBytes = 8 << 10
	// MaxJTIBytes bounds the proof's jti.
	MaxJTIBytes = 256
	// MinRSABits is the smallest RSA modulus accepted in a proof's jwk.
	MinRSABits = 2048
)

// DefaultAlgorithms is sender_constraint.dpop_algorithms when not configured.
// Callers must not modify it.
var DefaultAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// keyKind is what a jwk must be to go with an alg.
type keyKind struct {
	kty   string // EC, RSA or OKP
	curve string // EC: P-256, P-384 or P-521; OKP: Ed25519; RSA: ""
}

// supported lists the asymmetric JWS algorithms a proof may use (RFC 7518,
// RFC 8037): never "none", never HS*.
var supported = map[string]keyKind{
	"ES256": {"EC", "P-256"},
	"ES384": {"EC", "P-384"},
	"ES512": {"EC", "P-521"},
	"RS256": {"RSA", ""},
	"RS384": {"RSA", ""},
	"RS512": {"RSA", ""},
	"PS256": {"RSA", ""},
	"PS384": {"RSA", ""},
	"PS512": {"RSA", ""},
	"EdDSA": {"OKP", "Ed25519"},
}

// SupportedAlgorithms returns every algorithm dpop_algorithms may list,
// sorted: the asymmetric JWS algorithms of RFC 7518 and RFC 8037. The
// caller owns the returned slice.
func SupportedAlgorithms() []string {
	algs := make([]string, 0, len(supported))
	for a := range supported {
		algs = append(algs, a)
	}
	slices.Sort(algs)
	return algs
}

// ValidOrigin reports whether s is an origin NewVerifier accepts:
// "scheme://host[:port]" with scheme http or https, optionally with a
// trailing "/".
func ValidOrigin(s string) bool {
	_, ok := parseOrigin(s)
	return ok
}

// Options configure a Verifier. The zero value is the contract's defaults
// with no leeway and the request's own scheme and authority for htu.
type Options struct {
	// Algorithms allowed in a proof's alg (dpop_algorithms); empty:
	// DefaultAlgorithms. Each must be an asymmetric JWS algorithm.
	Algorithms []string
	// MaxAge is how far in the past a proof's iat may be (dpop_max_age),
	// before Leeway; 0: DefaultMaxAge.
	MaxAge time.Duration
	// Leeway is the clock skew allowed on iat, both ways (the tenant's
	// leeway); 0: none.
	Leeway time.Duration
	// Origin, when set, is the external "scheme://host[:port]" that htu must
	// name instead of the request's scheme and authority (origin).
	Origin string
}

// Verifier checks DPoP proofs for one tenant. It is immutable once built and
// safe for concurrent use; it holds no lock and does no I/O.
type Verifier struct {
	algs      []string
	joseAlgs  []jose.SignatureAlgorithm
	maxAge    time.Duration
	leeway    time.Duration
	origin    origin
	hasOrigin bool
}

// NewVerifier checks the options and applies their defaults. Its errors
// quote the offending configuration value (never a request's data).
func NewVerifier(o Options) (*Verifier, error) {
	v := &Verifier{maxAge: o.MaxAge, leeway: o.Leeway}
	algs := o.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	for _, a := range algs {
		if _, ok := supported[a]; !ok {
			return nil, fmt.Errorf("dpop: algorithm %q is not an asymmetric JWS algorithm tokengate supports", a)
		}
		if !slices.Contains(v.algs, a) {
			v.algs = append(v.algs, a)
			v.joseAlgs = append(v.joseAlgs, jose.SignatureAlgorithm(a))
		}
	}
	switch {
	case o.MaxAge < 0:
		return nil, errors.New("dpop: max age must not be negative")
	case o.MaxAge == 0:
		v.maxAge = DefaultMaxAge
	}
	if o.Leeway < 0 {
		return nil, errors.New("dpop: leeway must not be negative")
	}
	if o.Origin != "" {
		org, ok := parseOrigin(o.Origin)
		if !ok {
			return nil, fmt.Errorf("dpop: origin %q is not scheme://host[:port] with scheme http or https", o.Origin)
		}
		v.origin, v.hasOrigin = org, true
	}
	return v, nil
}

// Algorithms returns the allowed algorithms in configuration order, for the
// algs attribute of a DPoP challenge. The caller owns the returned slice.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// ReplayWindow is how long a jti must be remembered: max age plus twice the
// leeway, which covers a proof dated up to leeway in the future.
func (v *Verifier) ReplayWindow() time.Duration { return v.maxAge + 2*v.leeway }
