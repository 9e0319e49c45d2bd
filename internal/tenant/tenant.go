// Package tenant builds what a tenant's checks call: its RFC 7662 client
// behind the decorator chain (caches, breaker, limit, metrics), in the one
// place that states the chain's order (Build). It also decides, on a
// configuration reload, which parts outlive the reload: the client with
// its connection pool, the cache store with its entries, and the circuit
// breaker with its state.
//
// To follow one allow: a check (extauthz/check) calls the tenant's
// Runtime.Introspector; Build shows every layer that call goes through,
// down to introspection.Client.Introspect.
package tenant

import (
	"crypto/sha256"
	"log/slog"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/sharedcache"
)

// Env is what a Runtime is built with besides the tenant's configuration,
// the same for every tenant of the process. Its zero value (for
// `tokengate validate` and `tokengate check`) logs, measures and traces
// nothing and has no shared cache.
type Env struct {
	Logger         *slog.Logger         // nil: nothing logged
	Metrics        *telemetry.Metrics   // nil: no metrics layer
	TracerProvider trace.TracerProvider // nil: calls to the server are not traced
	Propagator     propagation.TextMapPropagator
	Shared         *sharedcache.Shared // nil: no shared cache layer
	// SharedReplay is the DPoP replay cache every replica shares (Redis);
	// nil: each replica's own only.
	SharedReplay dpop.ReplayCache
}

// Runtime is one tenant's built introspection side.
//
// Concurrency: a Runtime is immutable once Build returns it, and its
// Introspector is safe for any number of concurrent checks. Build only
// reads prev, so checks may keep using prev's Introspector while its
// successor is built and after it is swapped in.
//
// Ownership: the client, the cache store and the breaker are shared by a
// Runtime and the Runtimes built from it while the settings that made each
// part stay the same (see Build), so no Runtime owns them alone. The only
// resource to release is the client's idle connections: Release does that
// unless the Runtime that stays in use shares the client. The chain itself
// (the layers around the parts, with their coalescing groups and
// concurrency slots) is new in every Runtime.
type Runtime struct {
	set          settings
	client       *introspection.Client
	store        *cache.Store
	breaker      *introspection.CircuitBreaker
	replay       *dpop.MemoryReplayCache
	introspector introspection.Introspector
}

// settings are what a Runtime's parts were built from, as one comparable
// value: Build decides reuse with ==, field by field.
type settings struct {
	// client is the Digest of the client's options (the tenant's
	// introspection section with its name and issuer): every field,
	// secrets and headers included.
	client  [sha256.Size]byte
	cache   config.Cache
	breaker config.CircuitBreaker
}

// Build returns tenant cfg's runtime. prev is the same tenant's runtime in
// the snapshot in use (nil at start, for a new tenant, or for a one-off
// build), and Build takes over its parts by these rules:
//
//   - client and cache store: kept when the introspection and cache
//     settings are unchanged (the cache keeps its entries, the client its
//     connections); otherwise new, and the cache starts empty.
//   - circuit breaker: kept (open or not) when the introspection and
//     circuit_breaker settings are unchanged, even if the cache settings
//     changed (the server behind it is the same); otherwise a new, closed
//     one.
//   - DPoP replay cache: always kept, whatever changed: the jtis of the
//     proofs accepted before a reload must stay refused after it (each
//     entry carries the replay window it was recorded with).
//
// Errors come from building a new client (its options, files, TLS) and are
// returned as they are, for the caller to place; prev is never modified, so
// a failed build of the whole configuration costs the running one nothing.
func Build(cfg *config.Tenant, prev *Runtime, env Env) (*Runtime, error) {
	opts := cfg.ClientOptions()
	r := &Runtime{set: settings{client: opts.Digest(), cache: cfg.Cache, breaker: cfg.CircuitBreaker}}
	sameServer := prev != nil && prev.set.client == r.set.client
	if sameServer && prev.set.cache == r.set.cache {
		r.client, r.store = prev.client, prev.store
	} else {
		client, err := newClient(opts, env)
		if err != nil {
			return nil, err
		}
		if opts.InsecureSkipVerify && env.Logger != nil {
			env.Logger.Warn("TLS certificates of the authorization server are not verified (insecure_skip_verify)",
				slog.String("tenant", cfg.Name))
		}
		r.client = client
		r.store = cache.NewStore(cache.Options{
			Tenant: cfg.Name,
			// Keys name the server and client too, in Redis as well (whose
			// entries outlive this process and are shared by other replicas).
			Fingerprint: cache.Fingerprint(opts),
			MaxTTL:      cfg.Cache.MaxTTL,
			NegativeTTL: cfg.Cache.NegativeTTL,
			MaxEntries:  cfg.Cache.MaxEntries,
		})
	}
	if sameServer && prev.set.breaker == r.set.breaker {
		r.breaker = prev.breaker
	} else {
		r.breaker = newBreaker(cfg, env)
	}
	if prev != nil {
		r.replay = prev.replay
	} else {
		r.replay = dpop.NewMemoryReplayCache(dpop.MemoryOptions{})
	}

	// The chain, outermost first: a check's call goes down this list and
	// stops at the first layer that answers.
	r.introspector = introspection.Chain(r.client,
		// Local cache: a hit answers here; concurrent misses for one token
		// coalesce into one call below, bounded by the tenant's timeout.
		r.store.Middleware(cfg.Introspection.Timeout),
		// Shared cache (Redis), when configured: a local miss asks it
		// before the authorization server, and writes the answer back.
		env.Shared.Middleware(sharedcache.Tenant{
			Name: cfg.Name, Fingerprint: r.store.Options().Fingerprint,
			MaxTTL: cfg.Cache.MaxTTL, NegativeTTL: cfg.Cache.NegativeTTL,
		}),
		// Circuit breaker, below the caches so that hits and coalesced
		// waiters never touch it (a cached token passes an outage, and one
		// call per token counts), and above the limit so that, open, a miss
		// fails at once instead of queueing for a slot that calls hanging
		// on a dead server still hold. A wait for a slot given up is not
		// counted (see introspection.CircuitBreaker.Middleware).
		r.breaker.Middleware(),
		// At most max_concurrent_introspections calls in flight.
		introspection.Limit(cfg.MaxConcurrentIntrospections),
		// Counts and times each call the server gets.
		env.Metrics.Middleware(cfg.Name),
	)
	return r, nil
}

// Introspector is what the tenant's checks call: the whole chain.
func (r *Runtime) Introspector() introspection.Introspector { return r.introspector }

// Store is the tenant's local cache store, which revocations evict from
// and whose size the entries gauge reports.
func (r *Runtime) Store() *cache.Store { return r.store }

// ReplayCache is the tenant's own DPoP replay cache (this replica's jtis),
// shared by every Runtime built from this one.
func (r *Runtime) ReplayCache() *dpop.MemoryReplayCache { return r.replay }

// Breaker is the tenant's circuit breaker (a disabled one when its
// circuit_breaker section says enabled: false), for the state gauge.
func (r *Runtime) Breaker() *introspection.CircuitBreaker { return r.breaker }

// Release closes the idle connections of r's client, unless keep (the
// same tenant's runtime that stays in use, or nil) shares that client.
// It does not cut calls in flight, and a released client still works (it
// dials again), so a check still holding r's Introspector is unharmed.
func (r *Runtime) Release(keep *Runtime) {
	if keep != nil && keep.client == r.client {
		return
	}
	r.client.Close()
}

// newClient builds the tenant's RFC 7662 client; with tracing, each call to
// the authorization server is a child client span whose traceparent
// reaches the server.
func newClient(opts introspection.Options, env Env) (*introspection.Client, error) {
	if env.TracerProvider != nil {
		base, err := introspection.NewTransport(opts)
		if err != nil {
			return nil, err
		}
		opts.Transport = otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(env.TracerProvider),
			otelhttp.WithPropagators(env.Propagator),
			otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()))
	}
	return introspection.NewClient(opts)
}

// newBreaker is a closed circuit breaker with cfg's circuit_breaker
// settings (disabled: one whose Middleware adds no layer).
func newBreaker(cfg *config.Tenant, env Env) *introspection.CircuitBreaker {
	o := cfg.BreakerOptions()
	o.Logger = env.Logger
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler) // as documented on Env
	}
	return introspection.NewCircuitBreaker(o)
}
