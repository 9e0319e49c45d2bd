// Package check runs one authorization check: it takes a protocol-neutral
// Request (built by the gRPC or HTTP front end), finds the route and tenant,
// extracts the token (Bearer or DPoP scheme), checks a DPoP proof's form,
// gets the token's claims (the tenant's chain: its cache, the local JWT
// checks of jwt.mode, introspection; jwt.go maps the local checks'
// errors to decisions), applies the decision with the sender binding
// (sender.go) and returns an Outcome the front end renders. All of its configuration
// lives in an immutable Snapshot that is swapped atomically on reload.
package check

import (
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/extauthz/policy"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// Tenant is one authorization server and what tokengate does with its
// answers. It is read-only once NewSnapshot has taken it.
type Tenant struct {
	Name         string
	Introspector introspection.Introspector
	Headers      *claimheaders.Injector
	// DPoP checks the tenant's DPoP proofs (its sender_constraint and
	// leeway); nil: NewSnapshot sets the defaults.
	DPoP *dpop.Verifier
	// Replay records the jtis of the proofs checks relied on.
	Replay Replay
	// CertificateHeader is the canonical name (as net/http keys request
	// headers) of the header holding the client certificate in HTTP mode;
	// "": none.
	CertificateHeader string
	// JWTMode is the tenant's jwt.mode ("" or off: none). The local JWT
	// checks are a layer of Introspector; the mode only tells which path
	// gave the claims (Outcome.Path).
	JWTMode jwtaccess.Mode
}

// Route is one configured route. Tenant is nil only for a public route
// that names no tenant.
type Route struct {
	Rule   routing.Rule
	Public bool
	Tenant *Tenant
	Policy decision.Policy
	// Conditions are the route's `when` (nil: none), evaluated after every
	// other check (policy.go).
	Conditions *policy.Conditions
	// Shadow is enforce: false: a would-be deny (but malformed_request)
	// is answered as an allow, and reported.
	Shadow bool
	// shadowRemove is what a shadow allow without claims removes: every
	// claim header of the tenant (NewSnapshot sets it).
	shadowRemove []string
}

// Snapshot is everything a check needs from the configuration. It is
// immutable once built and safe for concurrent use; a reload builds a new
// one instead of changing this one.
type Snapshot struct {
	routes []Route
	table  *routing.Table
	// publicRemove is every header any tenant could set: public routes
	// strip them all.
	publicRemove []string
	// hasShadow: some route is in shadow mode.
	hasShadow bool
}

// NewSnapshot takes ownership of routes (first match wins, in order) and of
// their tenants: a tenant without a DPoP verifier gets the default one, and
// one without a local replay cache a new one (it lasts as long as the
// tenant: a caller that reloads passes the old one on).
func NewSnapshot(routes []Route) *Snapshot {
	rules := make([]routing.Rule, len(routes))
	seen := map[*Tenant]bool{}
	names := map[string]bool{}
	s := &Snapshot{routes: routes}
	for i, r := range routes {
		rules[i] = r.Rule
		if r.Shadow && r.Tenant != nil {
			s.hasShadow = true
			routes[i].shadowRemove = shadowRemove(r.Tenant)
		}
		if r.Tenant == nil || seen[r.Tenant] {
			continue
		}
		seen[r.Tenant] = true
		if r.Tenant.DPoP == nil {
			r.Tenant.DPoP = defaultVerifier
		}
		if r.Tenant.Replay.Local == nil {
			r.Tenant.Replay.Local = dpop.NewMemoryReplayCache(dpop.MemoryOptions{})
		}
		for _, h := range r.Tenant.Headers.Names() {
			if !names[h] {
				names[h] = true
				s.publicRemove = append(s.publicRemove, h)
			}
		}
	}
	s.table = routing.NewTable(rules)
	return s
}
