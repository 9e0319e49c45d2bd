package telemetry

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// SharedStats are the shared (Redis) cache's counters since start, as the
// app reads them from the shared cache: lookups by result (hit, miss,
// error, skipped, revoked, forged, replay_fallback) and revocations by source (local: made through
// this replica's admin listener or event endpoints; remote: received from another replica).
type SharedStats struct {
	Lookups     map[string]int64
	Revocations map[string]int64
}

// sharedMetrics reports SharedStats at collection time.
type sharedMetrics struct {
	stats atomic.Pointer[func() SharedStats]
}

func (s *sharedMetrics) register(meter metric.Meter) error {
	for _, c := range []struct {
		name, description, label string
		pick                     func(SharedStats) map[string]int64
	}{
		{"tokengate_shared_cache_lookups",
			"Shared (Redis) cache lookups: hit, miss, error, skipped (Redis set aside after errors), revoked, forged (an entry without a valid signature, ignored), replay_fallback (a DPoP jti check Redis did not answer: this replica's replay cache decided alone).",
			"result", func(st SharedStats) map[string]int64 { return st.Lookups }},
		{"tokengate_revocations",
			"Revocations through the admin listener (local) or from other replicas (remote).",
			"source", func(st SharedStats) map[string]int64 { return st.Revocations }},
	} {
		if _, err := meter.Int64ObservableCounter(c.name,
			metric.WithDescription(c.description),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				return s.observe(o, c.label, c.pick)
			})); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

func (s *sharedMetrics) observe(o metric.Int64Observer, label string, pick func(SharedStats) map[string]int64) error {
	f := s.stats.Load()
	if f == nil {
		return nil
	}
	for value, n := range pick((*f)()) {
		o.Observe(n, metric.WithAttributes(attribute.String(label, value)))
	}
	return nil
}

// SetSharedStats sets the function the shared-cache metrics read; it is
// called at collection time and must be safe for concurrent use.
func (m *Metrics) SetSharedStats(f func() SharedStats) { m.shared.stats.Store(&f) }
