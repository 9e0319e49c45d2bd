package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// eventMetrics counts revocation events pushed by authorization servers:
// tokengate_revocation_events_total{tenant,type,result}.
type eventMetrics struct {
	events metric.Int64Counter
}

func (e *eventMetrics) register(meter metric.Meter) error {
	var err error
	e.events, err = meter.Int64Counter("tokengate_revocation_events",
		metric.WithDescription("Revocation events received (back-channel logout tokens, Security Event Tokens), by type and result: revoked, ignored, rejected, replayed, limited, too_large, error."))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// RevocationEvent counts one event of tenant; a nil *Metrics counts
// nothing. Safe for concurrent use.
func (m *Metrics) RevocationEvent(tenant, typ, result string) {
	if m == nil || m.events.events == nil {
		return
	}
	m.events.events.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("tenant", tenant), attribute.String("type", typ), attribute.String("result", result)))
}
