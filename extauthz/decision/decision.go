// Package decision holds tokengate's authorization decision: a pure function
// of a route's policy, a token's claims and the time, plus the deny answers for
// the checks that happen before a token is introspected. Nothing here does I/O,
// so every rule is table-tested.
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
)

// Reasons lists every reason word, in the order of the checks.
var Reasons = []Reason{
	Allowed, Public, MalformedRequest, NoRoute, MissingToken, MalformedToken,
	Inactive, Expired, NotYetValid, Issuer, TokenType, Audience,
	InsufficientScope, IntrospectionError,
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
	// a Bearer challenge).
	Realm string
	// Error and Description fill the JSON body and, where the contract asks,
	// the challenge.
	Error       string
	Description string
	// Scope is the challenge's scope attribute for insufficient_scope.
	Scope string
}

// Decide applies the contract's checks after introspection, in its order:
// active → exp/nbf → iss → token_type → audience → scopes. The first failure
// decides. claims must not be nil.
func Decide(p *Policy, c *introspection.Claims, now time.Time) Decision {
	switch {
	case !c.Active:
		return invalidToken(p.Realm, Inactive, "the token is not active")
	case !c.Expiry.IsZero() && !now.Before(c.Expiry.Add(p.Leeway)):
		return invalidToken(p.Realm, Expired, "the token has expired")
	case !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-p.Leeway)):
		return invalidToken(p.Realm, NotYetValid, "the token is not valid yet")
	case p.Issuer != "" && c.Issuer != p.Issuer && (c.Issuer != "" || c.Has("iss")):
		// a present "iss" must equal the issuer, "" included; null is absent
		return invalidToken(p.Realm, Issuer, "the token was issued by another issuer")
	case (c.TokenType != "" || c.Has("token_type")) && !containsFold(p.TokenTypes, c.TokenType):
		return invalidToken(p.Realm, TokenType, "the token type is not accepted")
	case len(p.Audiences) > 0 && !intersects(p.Audiences, c.Audience):
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

// DenyMissingToken is the answer when no Bearer credentials were presented.
// Its challenge carries only the realm (RFC 6750 §3.1).
func DenyMissingToken(realm string) Decision {
	return Decision{Reason: MissingToken, Status: http.StatusUnauthorized, Realm: realm,
		Error: "unauthorized", Description: "a bearer token is required"}
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
