package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// revocationEventsDescription describes the counter of revocation events
// pushed by authorization servers:
// tokengate_revocation_events_total{tenant,type,result}.
const revocationEventsDescription = "Revocation events received (back-channel logout tokens, Security Event Tokens), by type and result: revoked, ignored, rejected, replayed, limited, too_large, error."

// RevocationEvent counts one event of tenant; a nil *Metrics counts
// nothing. Safe for concurrent use.
func (m *Metrics) RevocationEvent(tenant, typ, result string) {
	if m == nil || m.events == nil {
		return
	}
	m.events.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("tenant", tenant), attribute.String("type", typ), attribute.String("result", result)))
}
