package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/introspection"
)

// Metrics records the contract's metrics. Label values are bounded: tenant
// and route names from the configuration, reason and outcome words — never
// a token, a subject or a path. It is safe for concurrent use.
type Metrics struct {
	decisions      *counterSet
	cacheLookups   *counterSet
	introspections metric.Int64Counter
	duration       metric.Float64Histogram
	reloads        metric.Int64Counter

	// entries reports each tenant's cache size; the app sets it to read
	// the stores of the snapshot in use.
	entries atomic.Pointer[func() map[string]int]
	// breakers reports each tenant's circuit breaker state (0 closed,
	// 1 half-open, 2 open); the app sets it when it builds a snapshot.
	breakers atomic.Pointer[func() map[string]int]
	shared   sharedMetrics

	mu    sync.RWMutex
	attrs map[attrKey]metric.MeasurementOption // built once per label combination
}

type attrKey struct {
	kind                            string
	tenant, route, decision, reason string
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{
		attrs:        map[attrKey]metric.MeasurementOption{},
		decisions:    newCounterSet(labelsOf),
		cacheLookups: newCounterSet(labelsOf),
	}
	var err error
	if _, err = meter.Int64ObservableCounter("tokengate_decisions",
		metric.WithDescription("Authorization decisions, by tenant, route, decision and reason."),
		metric.WithInt64Callback(m.decisions.observe)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableCounter("tokengate_cache_lookups",
		metric.WithDescription("Introspection cache lookups: hit, negative_hit, miss, coalesced."),
		metric.WithInt64Callback(m.cacheLookups.observe)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.introspections, err = meter.Int64Counter("tokengate_introspection_requests",
		metric.WithDescription("Calls to authorization servers, by outcome: active, inactive, error.")); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.duration, err = meter.Float64Histogram("tokengate_introspection_duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of calls to authorization servers."),
		metric.WithExplicitBucketBoundaries(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.reloads, err = meter.Int64Counter("tokengate_config_reloads",
		metric.WithDescription("Configuration reloads, by result: success, failure.")); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableGauge("tokengate_cache_entries",
		metric.WithDescription("Entries in each tenant's introspection cache."),
		metric.WithInt64Callback(m.observeEntries)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableGauge("tokengate_circuit_breaker_state",
		metric.WithDescription("State of each tenant's circuit breaker: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(m.observeBreakers)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := m.shared.register(meter); err != nil {
		return nil, err
	}
	return m, nil
}

// SetCacheEntries sets the function the cache-size gauge reads.
func (m *Metrics) SetCacheEntries(f func() map[string]int) { m.entries.Store(&f) }

func (m *Metrics) observeEntries(_ context.Context, o metric.Int64Observer) error {
	return observePerTenant(m.entries.Load(), o)
}

// SetBreakerStates sets the function the circuit-breaker gauge reads: each
// tenant's state, 0 closed, 1 half-open, 2 open. It is called at collection
// time, from the exporter's goroutine, so it must be safe for concurrent
// use; the latest function set wins (a reload replaces it).
func (m *Metrics) SetBreakerStates(f func() map[string]int) { m.breakers.Store(&f) }

func (m *Metrics) observeBreakers(_ context.Context, o metric.Int64Observer) error {
	return observePerTenant(m.breakers.Load(), o)
}

// observePerTenant observes one value per tenant from f, if set.
func observePerTenant(f *func() map[string]int, o metric.Int64Observer) error {
	if f == nil {
		return nil
	}
	for tenant, n := range (*f)() {
		o.Observe(int64(n), metric.WithAttributes(attribute.String("tenant", tenant)))
	}
	return nil
}

// Decided records one check's outcome (check.Observer).
func (m *Metrics) Decided(_ context.Context, out check.Outcome) {
	word := "deny"
	if out.Decision.Allow {
		word = "allow"
	}
	m.decisions.add(attrKey{kind: "d", tenant: out.Tenant, route: out.Route,
		decision: word, reason: string(out.Decision.Reason)})
	if out.Cache != introspection.CacheNone && out.Cache != "" {
		m.cacheLookups.add(attrKey{kind: "c", tenant: out.Tenant, reason: string(out.Cache)})
	}
}

// Reloaded counts one configuration reload.
func (m *Metrics) Reloaded(ctx context.Context, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.reloads.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

// Instrument wraps a tenant's introspection client so that every call to
// the authorization server is counted by outcome and timed.
func (m *Metrics) Instrument(next introspection.Introspector, tenant string) introspection.Introspector {
	return &instrumented{next: next, m: m, tenant: tenant}
}

type instrumented struct {
	next   introspection.Introspector
	m      *Metrics
	tenant string
}

func (i *instrumented) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	start := time.Now()
	res, err := i.next.Introspect(ctx, token)
	outcome := "error"
	switch {
	case err != nil:
	case res.Claims != nil && res.Claims.Active:
		outcome = "active"
	case res.Claims != nil:
		outcome = "inactive"
	}
	i.m.introspections.Add(ctx, 1, i.m.opts(attrKey{kind: "i", tenant: i.tenant, reason: outcome}))
	i.m.duration.Record(ctx, time.Since(start).Seconds(), i.m.opts(attrKey{kind: "t", tenant: i.tenant}))
	return res, err
}

// opts returns the attribute option for a label combination, building it
// the first time; the set of combinations is bounded by the configuration.
func (m *Metrics) opts(k attrKey) metric.MeasurementOption {
	m.mu.RLock()
	o, ok := m.attrs[k]
	m.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(labelsOf(k)...))
	m.mu.Lock()
	m.attrs[k] = o
	m.mu.Unlock()
	return o
}

// labelsOf is the label set of a key; kind says which metric it is for.
func labelsOf(k attrKey) []attribute.KeyValue {
	var kv []attribute.KeyValue
	switch k.kind {
	case "d":
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("route", k.route),
			attribute.String("decision", k.decision), attribute.String("reason", k.reason)}
	case "c":
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("result", k.reason)}
	case "i":
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("outcome", k.reason)}
	case "t":
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant)}
	}
	return kv
}
