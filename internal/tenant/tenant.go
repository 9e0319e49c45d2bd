// Package tenant builds what a tenant's checks call: its RFC 7662 client
// behind the decorator chain (caches, local JWT checks, breaker, limit,
// metrics), in the one place that states the chain's order (Build). It
// also decides, on a configuration reload, which parts outlive the
// reload: the client with its connection pool, the JWKS with its keys,
// the cache store with its entries, and the circuit breaker with its
// state.
//
// To follow one allow: a check (extauthz/check) calls the tenant's
// Runtime.Introspector; Build shows every layer that call goes through,
// down to introspection.Client.Introspect.
package tenant

import (
	"crypto/sha256"
	"log/slog"
	"net/http"

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
// Ownership: the transport, client, JWKS, cache store and breaker are
// shared by a Runtime and the Runtimes built from it while the settings
// that made each part stay the same (see Build), so no Runtime owns them
// alone. The only resource to release is the transport's idle
// connections: Release does that unless the Runtime that stays in use
// shares the transport. The chain itself
// (the layers around the parts, with their coalescing groups and
// concurrency slots) is new in every Runtime.
type Runtime struct {
	set          settings
	client       *introspection.Client // nil: no introspection (jwt.mode local only)
	http         *http.Client          // the tenant's transport, client and JWKS alike
	jwks         *introspection.JWKS   // nil: jwt.mode off
	store        *cache.Store
	breaker      *introspection.CircuitBreaker // disabled without introspection
	replay       *dpop.MemoryReplayCache
	introspector introspection.Introspector
}

// settings are what a Runtime's parts were built from, as one comparable
// value: Build decides reuse with ==, field by field.
type settings struct {
	// client is the Digest of the client's options (the tenant's
	// introspection section with its name and issuer): every field,
	// secrets and headers included.
	client [sha256.Size]byte
	// jwt is the jwt section's Key ("" with mode off).
	jwt     string
	cache   config.Cache
	breaker config.CircuitBreaker
}

// Build returns tenant cfg's runtime. prev is the same tenant's runtime in
// the snapshot in use (nil at start, for a new tenant, or for a one-off
// build), and Build takes over its parts by these rules:
//
//   - client, JWKS and cache store: kept when the introspection, jwt and
//     cache settings are unchanged (the cache keeps its entries, the
//     client its connections, the JWKS its keys); otherwise new, and the
//     cache starts empty.
//   - circuit breaker: kept (open or not) when the introspection and
//     circuit_breaker settings are unchanged, even if the cache or jwt
//     settings changed (the server behind it is the same); otherwise a
//     new, closed one.
//   - DPoP replay cache: always kept, whatever changed: the jtis of the
//     proofs accepted before a reload must stay refused after it (each
//     entry carries the replay window it was recorded with).
//
// Errors come from building a new client or key set (options, files, TLS)
// and are returned as they are, for the caller to place; prev is never
// modified, so a failed build of the whole configuration costs the running
// one nothing.
func Build(cfg *config.Tenant, prev *Runtime, env Env) (*Runtime, error) {
	opts := cfg.ClientOptions()
	r := &Runtime{set: settings{jwt: jwtKey(cfg), cache: cfg.Cache, breaker: cfg.CircuitBreaker}}
	if cfg.HasIntrospection() {
		r.set.client = opts.Digest()
	}
	sameServer := prev != nil && prev.set.client == r.set.client
	if sameServer && prev.set.jwt == r.set.jwt && prev.set.cache == r.set.cache {
		r.client, r.http, r.jwks, r.store = prev.client, prev.http, prev.jwks, prev.store
	} else if err := r.newParts(cfg, opts, env); err != nil {
		return nil, err
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
	layer, err := jwtLayer(cfg, r.jwks, env)
	if err != nil {
		return nil, err
	}
	r.introspector = r.chain(cfg, layer, env)
	return r, nil
}

// newParts builds r's transport, key set, client and an empty cache store.
func (r *Runtime) newParts(cfg *config.Tenant, opts introspection.Options, env Env) error {
	rt, err := newTransport(opts, env)
	if err != nil {
		return err
	}
	r.http = &http.Client{Transport: rt}
	if r.jwks, err = newJWKS(cfg, r.http, env); err != nil {
		return err
	}
	if cfg.HasIntrospection() {
		opts.Transport = rt
		if sharesJWKS(cfg) {
			opts.JWKS = r.jwks // one key set for tokens and signed responses
		}
		if r.client, err = introspection.NewClient(opts); err != nil {
			return err
		}
		if opts.InsecureSkipVerify && env.Logger != nil {
			env.Logger.Warn("TLS certificates of the authorization server are not verified (insecure_skip_verify)",
				slog.String("tenant", cfg.Name))
		}
	}
	r.store = cache.NewStore(cache.Options{
		Tenant: cfg.Name,
		// Keys name the server and client too, in Redis as well (whose
		// entries outlive this process and are shared by other replicas),
		// and the jwt settings that checked a JWT's claims.
		Fingerprint: fingerprint(cfg, opts),
		MaxTTL:      cfg.Cache.MaxTTL,
		NegativeTTL: cfg.Cache.NegativeTTL,
		MaxEntries:  cfg.Cache.MaxEntries,
	})
	return nil
}

// chain is the tenant's decorator chain, outermost first: a check's call
// goes down this list and stops at the first layer that answers.
func (r *Runtime) chain(cfg *config.Tenant, jwt introspection.Middleware, env Env) introspection.Introspector {
	// The local cache: a hit answers here, for JWTs checked locally and
	// introspected tokens alike; concurrent misses for one token coalesce
	// into one call below, bounded by the tenant's timeout.
	callTimeout := cfg.Introspection.Timeout
	if callTimeout <= 0 {
		callTimeout = introspection.DefaultTimeout
	}
	local := r.store.Middleware(callTimeout)
	if r.client == nil {
		// jwt.mode local without introspection: the local checks answer
		// every miss (a token that is not a JWT is refused there).
		return introspection.Chain(nil, local, jwt)
	}
	return introspection.Chain(r.client,
		local,
		// Local JWT checks (jwt.mode), when on: a JWS refused here never
		// costs a Redis lookup, a slot or a call to the server; in mode
		// local an accepted one is answered here.
		jwt,
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
// circuit_breaker section says enabled: false, or without introspection),
// for the state gauge.
func (r *Runtime) Breaker() *introspection.CircuitBreaker { return r.breaker }

// Release closes the idle connections of r's transport (its client's and
// its JWKS's), unless keep (the same tenant's runtime that stays in use,
// or nil) shares it. It does not cut calls in flight, and a released
// transport still works (it dials again), so a check still holding r's
// Introspector is unharmed.
func (r *Runtime) Release(keep *Runtime) {
	if keep != nil && keep.http == r.http {
		return
	}
	r.http.CloseIdleConnections()
}

// JWKS is the key set of the tenant's JWT access tokens (nil with
// jwt.mode off), shared with its signed introspection responses when
// both name the same URL.
func (r *Runtime) JWKS() *introspection.JWKS { return r.jwks }

// newBreaker is a closed circuit breaker with cfg's circuit_breaker
// settings (disabled: one whose Middleware adds no layer).
func newBreaker(cfg *config.Tenant, env Env) *introspection.CircuitBreaker {
	o := cfg.BreakerOptions()
	o.Disabled = o.Disabled || !cfg.HasIntrospection() // no server to protect
	o.Logger = env.Logger
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler) // as documented on Env
	}
	return introspection.NewCircuitBreaker(o)
}
