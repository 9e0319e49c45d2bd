package testsupport

import (
	"fmt"
	"strings"
)

// RoutesTenant is what ManyRoutes writes for one tenant.
type RoutesTenant struct {
	Issuer, IntrospectionURL, Audience string
}

// ManyRoutes is the tenants and routes sections of a configuration with
// tenants tenants and perTenant routes each, for tests and benchmarks of
// large configurations: tenant tNNN (client rs-tNNN, as tenant(NNN) says)
// has host tNNN.example.com and its subdomains, and its routes tNNN-rMM
// the path prefixes /api/rMM/, the methods GET and POST and the scope
// scope(MM).
func ManyRoutes(tenants, perTenant int, tenant func(t int) RoutesTenant, scope func(r int) string) string {
	var b strings.Builder
	b.WriteString("tenants:\n")
	for t := range tenants {
		tn := tenant(t)
		fmt.Fprintf(&b, `  - name: t%03d
    issuer: %q
    introspection:
      url: %q
      client_id: "rs-t%03d"
      client_secret: "secret"
    audiences: [%q]
    claims_to_headers:
      sub: x-auth-subject
      scope: x-auth-scope
`, t, tn.Issuer, tn.IntrospectionURL, t, tn.Audience)
	}
	b.WriteString("routes:\n")
	for t := range tenants {
		for r := range perTenant {
			fmt.Fprintf(&b, `  - name: t%03d-r%02d
    tenant: t%03d
    hosts: ["t%03d.example.com", "*.t%03d.example.com"]
    path_prefix: "/api/r%02d/"
    methods: ["GET", "POST"]
    scopes: [%q]
`, t, r, t, t, t, r, scope(r))
		}
	}
	return b.String()
}
