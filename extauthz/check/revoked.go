package check

import "github.com/tokengate/tokengate/introspection"

// Revocations are the revocation markers of pushed events (the contract's
// "revocation markers" step, after active and before exp/nbf):
// *revocation.Revoker is one. Revoked must be safe for concurrent use and
// cheap when no marker is held: every check with claims asks it.
type Revocations interface {
	Revoked(tenant string, c *introspection.Claims) bool
}

// revoked is the marker verdict for tenant's claims (false without
// markers).
func (c *Checker) revoked(tenant string, claims *introspection.Claims) bool {
	return c.revocations != nil && claims.Active && c.revocations.Revoked(tenant, claims)
}
