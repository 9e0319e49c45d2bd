package check

import (
	"errors"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// Path says what decided a check's claims, for `tokengate check`: the
// cache, the local JWT checks (jwt.mode), or the authorization server.
type Path string

// The paths; PathNone when no claims were looked for (a deny before the
// token, a public route).
const (
	PathNone          Path = ""
	PathCache         Path = "cache"
	PathLocal         Path = "local"
	PathIntrospection Path = "introspection"
)

// localDeny maps an error of the local JWT checks (jwtaccess, below the
// tenant's cache) to its decision; ok is false for any other error (no
// key set, the server: 503 introspection_error).
func localDeny(realm string, err error) (d decision.Decision, ok bool) {
	switch {
	case errors.Is(err, jwtaccess.ErrNotJWS):
		return decision.DenyNotJWT(realm), true
	case errors.Is(err, jwtaccess.ErrInvalidSignature):
		return decision.DenyJWT(realm, decision.InvalidSignature), true
	case errors.Is(err, jwtaccess.ErrIssuer):
		return decision.DenyJWT(realm, decision.Issuer), true
	case errors.Is(err, jwtaccess.ErrInvalidClaims):
		return decision.DenyJWT(realm, decision.InvalidToken), true
	case errors.Is(err, jwtaccess.ErrExpired):
		return decision.DenyJWT(realm, decision.Expired), true
	case errors.Is(err, jwtaccess.ErrNotYetValid):
		return decision.DenyJWT(realm, decision.NotYetValid), true
	}
	return decision.Decision{}, false
}

// pathOf says what gave the claims of a check at tenant t: the cache on a
// hit, the local checks for a JWT in jwt.mode local (or any error of the
// local checks, no key set included), else the authorization server.
func pathOf(t *Tenant, token string, cached introspection.CacheStatus, err error) Path {
	switch {
	case cached == introspection.CacheHit || cached == introspection.CacheNegativeHit:
		return PathCache
	case err != nil && jwtaccess.Outcome(err) != "error":
		return PathLocal
	case err != nil || t.JWTMode != jwtaccess.ModeLocal:
		return PathIntrospection
	case jwtaccess.IsJWS(token):
		return PathLocal
	}
	return PathIntrospection
}
