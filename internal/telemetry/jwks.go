package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokengate/tokengate/introspection"
)

// jwksMetrics counts JWKS fetch attempts:
// tokengate_jwks_fetches_total{tenant,result}, result one of
// introspection's JWKSFetchOutcome words (success, unavailable, invalid).
type jwksMetrics struct {
	fetches metric.Int64Counter
}

func (j *jwksMetrics) register(meter metric.Meter) error {
	var err error
	j.fetches, err = meter.Int64Counter("tokengate_jwks_fetches",
		metric.WithDescription("JWKS fetch attempts (JWT access tokens, signed introspection responses), by result: success, unavailable (connection, timeout, 5xx, 429), invalid."))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// JWKSObserver counts the fetch outcomes of tenant's key set; nil for a
// nil *Metrics (nothing counted). It is safe for concurrent use, and
// cheap: a fetch happens at most every 10 s per key set.
func (m *Metrics) JWKSObserver(tenant string) introspection.JWKSObserver {
	if m == nil || m.jwks.fetches == nil {
		return nil
	}
	return introspection.JWKSObserverFunc(func(o introspection.JWKSFetchOutcome) {
		m.jwks.fetches.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("tenant", tenant), attribute.String("result", string(o))))
	})
}
