// Package events receives the revocations authorization servers push:
// OpenID Connect Back-Channel Logout 1.0 logout tokens (POST
// /events/<tenant>/backchannel-logout) and Security Event Tokens (RFC 8417)
// pushed per RFC 8935 (POST /events/<tenant>/ssf). It validates each one
// (signature from the tenant's events JWKS through jwtaccess, claims,
// jti replay), and turns the valid ones into revocation markers that a
// Marker (revocation.Revoker) records on every replica. Bodies are
// bounded, each tenant rate-limited; every event is logged (a hash of its
// subject, never the token) and counted.
//
// Concurrency: a Handler is safe for concurrent use; SetTenants swaps the
// tenants in while events are received. Ownership: the Handler owns its
// rate limiters and, unless given one, its replay cache; the key sources
// and the Marker are lent.
package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection/jwtaccess"
	"github.com/tokengate/tokengate/introspection/revocation"
)

// Defaults and bounds of the contract.
const (
	MaxBodyBytes = 64 << 10 // larger bodies: 413
	DefaultRate  = 100      // events a second per tenant; more: 429
	// SeenJTITTL is how long a jti is remembered: at least the logout
	// tokens' freshness window, both sides.
	SeenJTITTL = 10 * time.Minute
)

// Tenant is one tenant's events settings.
type Tenant struct {
	Name string
	// Issuer is the tenant's issuer: a logout token's iss must equal it,
	// and an iss_sub subject's iss must too to revoke anything.
	Issuer string
	// ClientID turns back-channel logout on: a logout token's aud must
	// contain it. "": off.
	ClientID string
	// SSFIssuer turns SSF on: a SET's iss must equal it; its aud must
	// contain SSFAudience. "": off.
	SSFIssuer, SSFAudience string
	// Algorithms are the accepted algs (jwt.algorithms).
	Algorithms []jose.SignatureAlgorithm
	// Keys is the events JWKS.
	Keys jwtaccess.KeySource
	// TTL is how long a marker lasts (revocation_ttl).
	TTL time.Duration
}

// subjectIssuer is the issuer an iss_sub subject must name.
func (t *Tenant) subjectIssuer() string {
	if t.Issuer != "" {
		return t.Issuer
	}
	return t.SSFIssuer
}

// endpoint is a Tenant with its verifiers.
type endpoint struct {
	Tenant
	logout *jwtaccess.Verifier // nil: back-channel logout off
	ssf    *jwtaccess.Verifier // nil: SSF off
}

// newEndpoint builds t's verifiers: any typ for logout tokens (the
// contract does not require logout+jwt), secevent+jwt for SETs.
func newEndpoint(t Tenant) (*endpoint, error) {
	e := &endpoint{Tenant: t}
	if t.TTL <= 0 {
		return nil, fmt.Errorf("events: tenant %s: revocation_ttl must be > 0", t.Name)
	}
	var err error
	if t.ClientID != "" {
		e.logout, err = jwtaccess.New(jwtaccess.Options{Issuer: t.Issuer, Algorithms: t.Algorithms, Types: []string{}, Keys: t.Keys})
		if err != nil {
			return nil, fmt.Errorf("events: tenant %s: back-channel logout: %w", t.Name, err)
		}
	}
	if t.SSFIssuer != "" {
		e.ssf, err = jwtaccess.New(jwtaccess.Options{Issuer: t.SSFIssuer, Algorithms: t.Algorithms, Types: []string{"secevent+jwt"}, Keys: t.Keys})
		if err != nil {
			return nil, fmt.Errorf("events: tenant %s: ssf: %w", t.Name, err)
		}
	}
	return e, nil
}

// Marker records revocation markers on every replica:
// *revocation.Revoker.
type Marker interface {
	Mark(ctx context.Context, marks ...revocation.Mark) (int, error)
}

// verify maps a jwtaccess error to a Problem.
func verifyProblem(err error) *Problem {
	switch {
	case errors.Is(err, jwtaccess.ErrKeysUnavailable):
		return &Problem{Status: 503, Code: "temporarily_unavailable", Description: "the key set cannot be fetched", Result: "error"}
	case errors.Is(err, jwtaccess.ErrInvalidClaims), errors.Is(err, jwtaccess.ErrNotJWS):
		return invalid("invalid_request", "not a signed JWT with a JSON object payload")
	}
	return invalid("invalid_key", "the signature, its alg, typ or key is not acceptable")
}
