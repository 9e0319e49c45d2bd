// Package decision holds tokengate's authorization decision: a pure function
// of a route's policy, a token's claims, the time and what the request
// presented to prove possession of a sender-constrained token (Binding),
// plus the deny answers for the checks that happen before a token is
// introspected. Nothing here does I/O, so every rule is table-tested.
package decision

import (
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/httpsyntax"
	"github.com/tokengate/tokengate/introspection"
)

// Reason is the one stable word that explains a decision. It is used in
// metrics labels, span attributes and logs, so its values never change.
type Reason string

const (
	Allowed            Reason = "allowed"
	Public             Reason = "public"
	MalformedRequest   Reason = "malformed_request"
	NoRoute            Reason = "no_route"
	MissingToken       Reason = "missing_token"
	MalformedToken     Reason = "malformed_token"
	Inactive           Reason = "inactive"
	Expired            Reason = "expired"
	NotYetValid        Reason = "not_yet_valid"
	Issuer             Reason = "issuer"
	TokenType          Reason = "token_type"
	Audience           Reason = "audience"
	InsufficientScope  Reason = "insufficient_scope"
	IntrospectionError Reason = "introspection_error"
	// InvalidDPoPProof: a DPoP proof that is missing, duplicated, fails a
	// check of RFC 9449 §4.3, or was replayed.
	InvalidDPoPProof Reason = "invalid_dpop_proof"
	// InvalidToken: a sender-constrained token presented the wrong way (a
	// DPoP-bound token with the Bearer scheme, a proof for another key, the
	// DPoP scheme for a token that is not DPoP-bound, a cnf tokengate cannot
	// verify).
	InvalidToken Reason = "invalid_token"
	// CertificateMismatch: a certificate-bound token without its client
	// certificate.
	CertificateMismatch Reason = "certificate_mismatch"
	// UnboundToken: a bearer token where the tenant requires a
	// sender-constrained one (sender_constraint.required).
	UnboundToken Reason = "unbound_token"
	// Revoked: an active token covered by a revocation marker (an event
	// pushed by the authorization server revoked its subject or session).
	Revoked Reason = "revoked"
)

// Reasons lists every reason word, in the order of the checks.
var Reasons = []Reason{
	Allowed, Public, MalformedRequest, NoRoute, MissingToken, MalformedToken,
	InvalidDPoPProof, InvalidSignature, Inactive, Revoked, Expired, NotYetValid, Issuer, TokenType,
	InvalidToken, CertificateMismatch, UnboundToken, Audience,
	InsufficientScope, InsufficientUserAuthentication, PolicyDenied, Shadow, IntrospectionError,
}

// Policy is what a route requires of a token. Realm is the tenant name.
// Audiences is already resolved (the route's when set, else the tenant's).
// A Policy is read-only once built and safe to share.
type Policy struct {
	Realm      string
	Issuer     string // empty: not checked; else a present "iss" ("" too) must equal it
	Leeway     time.Duration
	TokenTypes []string // compared ASCII-case-insensitively; an absent (or null) token_type passes, a present "" does not
	Audiences  []string // empty: not checked
	Scopes     []string // all required
	AnyScopes  []string // at least one required when not empty
	// Required is the tenant's sender_constraint.required.
	Required Constraint
	// DPoPAlgs is the tenant's dpop_algorithms space-separated, the algs
	// attribute of its DPoP challenges; "": the default algorithms.
	DPoPAlgs string
	// StepUp is the route's acr_values and max_age (RFC 9470, stepup.go).
	StepUp StepUp
}

// Decision is the answer for one request. The zero value is not an allow:
// Allow must be set explicitly, so a forgotten branch fails closed.
type Decision struct {
	Allow  bool
	Reason Reason
	// Status is the HTTP status of a deny (0 for an allow).
	Status int
	// Realm is the tenant name used in the challenge; empty means no
	// WWW-Authenticate header (rows of the table without a tenant or without
	// a challenge).
	Realm string
	// Error and Description fill the JSON body and, where the contract asks,
	// the challenge.
	Error       string
	Description string
	// Scope is the challenge's scope attribute for insufficient_scope.
	Scope string
	// ACRValues and MaxAge are the challenge's acr_values and max_age
	// attributes (RFC 9470 §3) for insufficient_user_authentication; ""
	// when the route has none.
	ACRValues, MaxAge string
	// DPoPAlgs, when set, makes the challenge a DPoP one (RFC 9449 §7.1)
	// with this algs attribute (the tenant's dpop_algorithms).
	DPoPAlgs string
	// ReplayCheck says the decision relied on the request's DPoP proof
	// being fresh: the caller must record the proof's jti and, when it
	// was seen before, decide again with Binding.Replayed set.
	ReplayCheck bool
}

// Decide applies the contract's checks after introspection, in its order:
// active → revocation markers (b.Revoked) → exp/nbf → iss → token_type → sender binding (see binding.go) →
// audience → scopes. The first failure decides. claims must not be nil.
func Decide(p *Policy, c *introspection.Claims, now time.Time, b Binding) Decision {
	switch {
	case !c.Active:
		return invalidToken(p.Realm, Inactive, "the token is not active")
	case b.Revoked:
		return invalidToken(p.Realm, Revoked, "the token was revoked by the authorization server")
	case !c.Expiry.IsZero() && !now.Before(c.Expiry.Add(p.Leeway)):
		return invalidToken(p.Realm, Expired, "the token has expired")
	case !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-p.Leeway)):
		return invalidToken(p.Realm, NotYetValid, "the token is not valid yet")
	case p.Issuer != "" && c.Issuer != p.Issuer && (c.Issuer != "" || c.Has("iss")):
		// a present "iss" must equal the issuer, "" included; null is absent
		return invalidToken(p.Realm, Issuer, "the token was issued by another issuer")
	case (c.TokenType != "" || c.Has("token_type")) && !containsFold(p.TokenTypes, c.TokenType):
		return invalidToken(p.Realm, TokenType, "the token type is not accepted")
	}
	cnf := c.Cnf()
	if d, denied := checkBinding(p, cnf, b); denied {
		return d
	}
	d := decideGrants(p, c, now)
	// Past the binding, a DPoP-bound token's proof matched: the decision
	// stands only if its jti is fresh.
	d.ReplayCheck = cnf.JKT != ""
	return d
}

// decideGrants applies the checks after the sender binding: audience,
// scopes, then the route's step-up requirement (acr_values, max_age).
func decideGrants(p *Policy, c *introspection.Claims, now time.Time) Decision {
	if len(p.Audiences) > 0 && !intersects(p.Audiences, c.Audience) {
		return invalidToken(p.Realm, Audience, "the token is not meant for this audience")
	}
	for _, s := range p.Scopes {
		if !c.HasScope(s) {
			return insufficientScope(p.Realm, p.Scopes)
		}
	}
	if len(p.AnyScopes) > 0 && !hasAny(c, p.AnyScopes) {
		return insufficientScope(p.Realm, p.AnyScopes)
	}
	if d, denied := checkStepUp(p, c, now); denied {
		return d
	}
	return Decision{Allow: true, Reason: Allowed}
}

// AllowPublic is the decision for a public route.
func AllowPublic() Decision { return Decision{Allow: true, Reason: Public} }

// DenyMalformedRequest is the answer for a path tokengate refuses to read.
func DenyMalformedRequest() Decision {
	return Decision{Reason: MalformedRequest, Status: http.StatusBadRequest,
		Error: "invalid_request", Description: "the request path is not acceptable"}
}

// DenyDuplicatedHeader is the malformed_request answer for a header naming
// the checked request (its method, host or path) that arrived more than
// once: upstreams may read either copy.
func DenyDuplicatedHeader() Decision {
	d := DenyMalformedRequest()
	d.Description = "a header naming the request was sent more than once"
	return d
}

// DenyNoRoute is the answer when no route matches (or the named one is unknown).
func DenyNoRoute() Decision {
	return Decision{Reason: NoRoute, Status: http.StatusForbidden,
		Error: "access_denied", Description: "no route matches the request"}
}

// DenyMissingToken is the answer when no Bearer or DPoP credentials were
// presented. Its challenge carries only the realm (RFC 6750 §3.1), and the
// algs of a DPoP challenge for a tenant that requires DPoP-bound tokens
// (sender_constraint.required dpop or any).
func DenyMissingToken(p *Policy) Decision {
	d := Decision{Reason: MissingToken, Status: http.StatusUnauthorized, Realm: p.Realm,
		Error: "unauthorized", Description: "a bearer token is required"}
	if p.Required == RequireDPoP || p.Required == RequireAny {
		d.DPoPAlgs, d.Description = p.dpopAlgs(), "a DPoP-bound access token is required"
	}
	return d
}

// DenyMalformedToken is the answer for Bearer credentials that are not a
// well-formed token; the token never reaches the authorization server.
func DenyMalformedToken(realm string) Decision {
	return Decision{Reason: MalformedToken, Status: http.StatusBadRequest, Realm: realm,
		Error: "invalid_request", Description: "the bearer token is malformed"}
}

// DenyIntrospectionError is the answer when no trustworthy introspection
// answer could be had: fail closed with 503 and no challenge.
func DenyIntrospectionError() Decision {
	return Decision{Reason: IntrospectionError, Status: http.StatusServiceUnavailable,
		Error: "temporarily_unavailable", Description: "the token could not be verified"}
}

func invalidToken(realm string, r Reason, desc string) Decision {
	return Decision{Reason: r, Status: http.StatusUnauthorized, Realm: realm,
		Error: "invalid_token", Description: desc}
}

func insufficientScope(realm string, required []string) Decision {
	return Decision{Reason: InsufficientScope, Status: http.StatusForbidden, Realm: realm,
		Error: "insufficient_scope", Description: "the token lacks a required scope",
		Scope: strings.Join(required, " ")}
}

// containsFold compares ASCII-case-insensitively: Unicode folding would
// accept "acce\u017f\u017f_to\u212aen" (LONG S, KELVIN SIGN) as access_token.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if httpsyntax.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func intersects(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

func hasAny(c *introspection.Claims, scopes []string) bool {
	for _, s := range scopes {
		if c.HasScope(s) {
			return true
		}
	}
	return false
}
