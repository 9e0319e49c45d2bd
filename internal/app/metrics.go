package app

import (
	"context"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/internal/tenant"
	"github.com/tokengate/tokengate/introspection"
)

// checkMetrics counts every check's outcome (the checker's Observer): the
// glue that keeps telemetry from depending on the check package. It is a
// pointer-sized value, so passing it as an interface allocates nothing.
type checkMetrics struct{ m *telemetry.Metrics }

func (c checkMetrics) Decided(ctx context.Context, out check.Outcome) {
	c.m.Decided(ctx, telemetry.Decision{
		Tenant: out.Tenant, Route: out.Route,
		Allow: out.Decision.Allow, Reason: string(out.Decision.Reason), Cache: out.Cache,
		Shadowed: string(out.Shadowed.Reason),
	})
}

// eachTenant calls f with every tenant of the snapshot in use, under s.mu:
// a reload waits for it, so f must be quick and must not reload.
func (s *Server) eachTenant(f func(name string, rt *tenant.Runtime)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, rt := range s.current.tenants {
		f(name, rt)
	}
}

// CacheSizes reports each tenant's cache size (telemetry.CacheSizer).
func (s *Server) CacheSizes(report func(tenant string, entries int)) {
	s.eachTenant(func(name string, rt *tenant.Runtime) { report(name, rt.Store().Len()) })
}

// BreakerStates reports the state of each tenant's circuit breaker, where
// enabled (telemetry.BreakerStates).
func (s *Server) BreakerStates(report func(tenant string, state introspection.BreakerState)) {
	s.eachTenant(func(name string, rt *tenant.Runtime) {
		if b := rt.Breaker(); b.Enabled() {
			report(name, b.State())
		}
	})
}
