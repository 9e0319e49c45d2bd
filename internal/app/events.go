package app

import (
	"context"
	"fmt"
	"log/slog"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/events"
	"github.com/tokengate/tokengate/internal/tenant"
)

// eventTenants are the events settings of the tenants that turn an event
// endpoint on, with their key sets (built on b's runtimes).
func eventTenants(cfg *config.Config, b *built, env tenant.Env) ([]events.Tenant, error) {
	var out []events.Tenant
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if !t.Events.On() {
			continue
		}
		keys, err := b.tenants[t.Name].EventsKeys(t, env)
		if err != nil {
			return nil, fmt.Errorf("tenants[%d].events: %w", i, err)
		}
		algs := make([]jose.SignatureAlgorithm, len(t.JWT.Algorithms))
		for j, a := range t.JWT.Algorithms {
			algs[j] = jose.SignatureAlgorithm(a)
		}
		out = append(out, events.Tenant{
			Name: t.Name, Issuer: t.Issuer, ClientID: t.Events.BackchannelClientID,
			SSFIssuer: t.Events.SSFIssuer, SSFAudience: t.Events.SSFAudience,
			Algorithms: algs, Keys: keys, TTL: t.Events.RevocationTTL,
		})
	}
	return out, nil
}

// newEvents is the events handler of the server: markers through the
// revoker, jtis shared through Redis when configured, counted. With
// Redis, the markers of events received before this replica started are
// restored first.
func (s *Server) newEvents(ctx context.Context) *events.Handler {
	if s.store != nil {
		n, err := s.revoker.Restore(ctx)
		if err != nil {
			s.log.Warn("revocation markers of earlier events not restored from Redis", slog.String("error", err.Error()))
		} else if n > 0 {
			s.log.Info("revocation markers restored from Redis", slog.Int("markers", n))
		}
	}
	o := events.Options{Marker: s.revoker, Logger: s.log, Count: s.metrics.RevocationEvent}
	if s.shared != nil {
		o.Shared = s.shared.ReplayCache(s.store)
	}
	return events.New(o)
}
