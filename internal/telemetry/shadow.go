package telemetry

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// shadowMetrics counts the would-be denies of routes in shadow mode
// (enforce: false): tokengate_shadow_denials_total{tenant,route,reason},
// reason the deny's. The allow itself is counted in tokengate_decisions
// with reason shadow.
type shadowMetrics struct {
	denials *counterSet
}

func (s *shadowMetrics) register(meter metric.Meter) error {
	s.denials = newCounterSet(func(k attrKey) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("route", k.route),
			attribute.String("reason", k.reason)}
	})
	if _, err := meter.Int64ObservableCounter("tokengate_shadow_denials",
		metric.WithDescription("Requests a route in shadow mode (enforce: false) would have denied, and allowed, by tenant, route and the deny's reason."),
		metric.WithInt64Callback(s.denials.observe)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// add counts one shadow deny.
func (s *shadowMetrics) add(tenant, route, reason string) {
	s.denials.add(attrKey{tenant: tenant, route: route, reason: reason})
}
