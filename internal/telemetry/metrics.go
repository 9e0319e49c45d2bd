package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

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
	events         metric.Int64Counter // tokengate_revocation_events, events.go
	jwksFetches    metric.Int64Counter // tokengate_jwks_fetches, jwks.go

	// caches and breakers are what the cache-size and breaker-state
	// gauges read at collection time; the app sets them at start.
	caches   atomic.Pointer[CacheSizer]
	breakers atomic.Pointer[BreakerStates]
	// routes is the number of routes of the configuration in use, for
	// the tokengate_routes gauge; the app sets it at start and on reload.
	routes atomic.Int64
	shared sharedMetrics
	shadow shadowMetrics // shadow.go

	mu    sync.RWMutex
	attrs map[attrKey]metric.MeasurementOption // built once per label combination
}

type attrKey struct {
	kind                            kind
	tenant, route, decision, reason string
}

// kind says which metric an attrKey labels, and so which labels it has.
type kind uint8

const (
	kindDecision      kind = iota + 1 // tokengate_decisions: tenant, route, decision, reason
	kindCacheLookup                   // tokengate_cache_lookups: tenant, result (in reason)
	kindIntrospection                 // tokengate_introspection_requests: tenant, outcome (in reason)
	kindDuration                      // tokengate_introspection_duration: tenant
)

// CacheSizer reports how many entries each tenant's introspection cache
// holds. It is called at collection time, from the exporter's goroutine,
// so it must be safe for concurrent use.
type CacheSizer interface {
	CacheSizes(report func(tenant string, entries int))
}

// BreakerStates reports the state of each tenant's circuit breaker (those
// enabled). It is called at collection time, like CacheSizer.
type BreakerStates interface {
	BreakerStates(report func(tenant string, state introspection.BreakerState))
}

// Decision is one check's outcome, as the decision and cache-lookup
// counters see it.
type Decision struct {
	Tenant, Route string
	Allow         bool
	Reason        string                    // the decision's reason word
	Cache         introspection.CacheStatus // CacheNone or "": nothing looked up
	// Shadowed is the reason of the deny a route in shadow mode answered
	// as this allow (Reason shadow); "" otherwise.
	Shadowed string
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
	for _, c := range []struct {
		counter           *metric.Int64Counter
		name, description string
	}{
		{&m.introspections, "tokengate_introspection_requests", "Calls to authorization servers, by outcome: active, inactive, error."},
		{&m.reloads, "tokengate_config_reloads", "Configuration reloads, by result: success, failure."},
		{&m.events, "tokengate_revocation_events", revocationEventsDescription},
		{&m.jwksFetches, "tokengate_jwks_fetches", jwksFetchesDescription},
	} {
		if *c.counter, err = meter.Int64Counter(c.name, metric.WithDescription(c.description)); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if m.duration, err = meter.Float64Histogram("tokengate_introspection_duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of calls to authorization servers."),
		metric.WithExplicitBucketBoundaries(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableGauge("tokengate_cache_entries",
		metric.WithDescription("Entries in each tenant's introspection cache."),
		metric.WithInt64Callback(m.observeCaches)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableGauge("tokengate_circuit_breaker_state",
		metric.WithDescription("State of each tenant's circuit breaker: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(m.observeBreakers)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err = meter.Int64ObservableGauge("tokengate_routes",
		metric.WithDescription("Routes of the configuration in use."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(m.routes.Load())
			return nil
		})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := m.shared.register(meter); err != nil {
		return nil, err
	}
	if err := m.shadow.register(meter); err != nil {
		return nil, err
	}
	return m, nil
}

// SetRoutes sets the route count the tokengate_routes gauge reports: the
// number of routes of the configuration in use.
func (m *Metrics) SetRoutes(n int) { m.routes.Store(int64(n)) }

// SetCacheSizer sets what the cache-size gauge reads.
func (m *Metrics) SetCacheSizer(c CacheSizer) { m.caches.Store(&c) }

func (m *Metrics) observeCaches(_ context.Context, o metric.Int64Observer) error {
	if c := m.caches.Load(); c != nil {
		(*c).CacheSizes(func(tenant string, n int) {
			o.Observe(int64(n), metric.WithAttributes(attribute.String("tenant", tenant)))
		})
	}
	return nil
}

// SetBreakerStates sets what the circuit-breaker gauge reads: each
// tenant's state, 0 closed, 1 half-open, 2 open.
func (m *Metrics) SetBreakerStates(b BreakerStates) { m.breakers.Store(&b) }

func (m *Metrics) observeBreakers(_ context.Context, o metric.Int64Observer) error {
	if b := m.breakers.Load(); b != nil {
		(*b).BreakerStates(func(tenant string, state introspection.BreakerState) {
			o.Observe(int64(state), metric.WithAttributes(attribute.String("tenant", tenant)))
		})
	}
	return nil
}

// Decided counts one check's outcome. The app calls it for every check
// (its check.Observer), so it is an atomic add once a label set is known.
func (m *Metrics) Decided(_ context.Context, d Decision) {
	word := "deny"
	if d.Allow {
		word = "allow"
	}
	m.decisions.add(attrKey{kind: kindDecision, tenant: d.Tenant, route: d.Route, decision: word, reason: d.Reason})
	if d.Shadowed != "" {
		m.shadow.add(d.Tenant, d.Route, d.Shadowed)
	}
	if d.Cache != introspection.CacheNone && d.Cache != "" {
		m.cacheLookups.add(attrKey{kind: kindCacheLookup, tenant: d.Tenant, reason: string(d.Cache)})
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

// Middleware is the metrics layer of a tenant's chain, right above its
// client, so that every call to the authorization server is counted by
// outcome and timed (tokengate_introspection_requests and _duration). A
// nil *Metrics adds no layer (nil Middleware, which Chain skips).
func (m *Metrics) Middleware(tenant string) introspection.Middleware {
	if m == nil {
		return nil
	}
	return func(next introspection.Introspector) introspection.Introspector {
		return &instrumented{next: next, m: m, tenant: tenant}
	}
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
	i.m.introspections.Add(ctx, 1, i.m.opts(attrKey{kind: kindIntrospection, tenant: i.tenant, reason: outcome}))
	i.m.duration.Record(ctx, time.Since(start).Seconds(), i.m.opts(attrKey{kind: kindDuration, tenant: i.tenant}))
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

// labelsOf is the label set of a key, by the metric its kind names.
func labelsOf(k attrKey) []attribute.KeyValue {
	var kv []attribute.KeyValue
	switch k.kind {
	case kindDecision:
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("route", k.route),
			attribute.String("decision", k.decision), attribute.String("reason", k.reason)}
	case kindCacheLookup:
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("result", k.reason)}
	case kindIntrospection:
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant), attribute.String("outcome", k.reason)}
	case kindDuration:
		kv = []attribute.KeyValue{attribute.String("tenant", k.tenant)}
	}
	return kv
}
