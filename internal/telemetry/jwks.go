package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokengate/tokengate/introspection"
)

// jwksFetchesDescription describes the counter of JWKS fetch attempts:
// tokengate_jwks_fetches_total{tenant,result}, result one of
// introspection's JWKSFetchOutcome words (success, unavailable, invalid).
const jwksFetchesDescription = "JWKS fetch attempts (JWT access tokens, signed introspection responses), by result: success, unavailable (connection, timeout, 5xx, 429), invalid."

// JWKSObserver counts the fetch outcomes of tenant's key set; nil for a
// nil *Metrics (nothing counted). It is safe for concurrent use, and
// cheap: a fetch happens at most every 10 s per key set.
func (m *Metrics) JWKSObserver(tenant string) introspection.JWKSObserver {
	if m == nil || m.jwksFetches == nil {
		return nil
	}
	return introspection.JWKSObserverFunc(func(o introspection.JWKSFetchOutcome) {
		m.jwksFetches.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("tenant", tenant), attribute.String("result", string(o))))
	})
}
