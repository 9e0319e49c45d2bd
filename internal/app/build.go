package app

import (
	"errors"
	"log/slog"

	"fmt"
	"reflect"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/sharedcache"
)

// built is a snapshot with the per-tenant resources it owns.
type built struct {
	snap    *check.Snapshot
	tenants map[string]*tenantRuntime
}

// tenantRuntime is what survives a reload when a tenant's introspection
// and cache settings stay the same: its client (with its connection pool)
// and its cache store. Its circuit breaker survives when the tenant's
// introspection and circuit_breaker settings stay the same (an open
// breaker stays open: the server behind it is the same); see keepBreaker.
type tenantRuntime struct {
	// clientOpts is everything the client was built from (the tenant's
	// introspection settings and its issuer, which signed responses are
	// checked against).
	clientOpts  introspection.Options
	cache       config.Cache
	client      *introspection.Client
	store       *cache.Store
	breaker     *introspection.CircuitBreaker
	breakerConf config.CircuitBreaker // what breaker was built from
}

// close releases the idle connections of the clients still owned; checks
// still using the snapshot keep working (calls in flight are not cut).
func (b *built) close() {
	for _, t := range b.tenants {
		t.client.Close()
	}
}

// canLend reports whether b has a runtime for tenant t with the same
// introspection and cache settings.
func (b *built) canLend(t *config.Tenant) bool {
	if b == nil {
		return false
	}
	rt, ok := b.tenants[t.Name]
	return ok && rt.cache == t.Cache && reflect.DeepEqual(rt.clientOpts, clientOptions(t))
}

// takeOver moves tenant t's runtime out of b (canLend must be true), so the
// new snapshot keeps its cache and b no longer closes its client.
func (b *built) takeOver(t *config.Tenant) *tenantRuntime {
	rt := b.tenants[t.Name]
	delete(b.tenants, t.Name)
	return rt
}

// keepBreaker gives rt, tenant t's runtime in the snapshot being built,
// the breaker it keeps: prev's when t's introspection and circuit_breaker
// settings are unchanged (even if its cache settings changed, which gave
// it a new client and store), else a new one from t's settings. prev may
// be nil, and rt may have come from prev (takeOver).
func (prev *built) keepBreaker(t *config.Tenant, rt *tenantRuntime, env buildEnv) {
	var old *tenantRuntime
	if prev != nil {
		old = prev.tenants[t.Name] // nil when rt was taken over: rt is the old one
	}
	switch {
	case old != nil && old.breakerConf == t.CircuitBreaker && reflect.DeepEqual(old.clientOpts, rt.clientOpts):
		rt.breaker = old.breaker
	case rt.breakerConf != t.CircuitBreaker:
		rt.breaker, rt.breakerConf = newBreaker(t, env), t.CircuitBreaker
	}
}

// checkBuildable reports the configuration problems that only building the
// runtime finds (for `tokengate validate`).
func checkBuildable(cfg *config.Config) error {
	b, err := build(cfg, nil, buildEnv{})
	if err != nil {
		return err
	}
	b.close()
	return nil
}

// build turns a validated configuration into a check snapshot, with one
// introspection client and cache per tenant: client → concurrency limit →
// circuit breaker → cache. Tenants whose settings are unchanged take over
// prev's client, cache store and breaker (prev may be nil). Every error is
// reported, joined. With env.metrics set, the breaker-state gauge is
// pointed at the new snapshot's breakers.
func build(cfg *config.Config, prev *built, env buildEnv) (*built, error) {
	var errs []error
	if cfg.Redis != nil {
		if _, err := redisTLS(cfg.Redis); err != nil { // for validate; Start uses it
			errs = append(errs, err)
		}
	}
	// First pass: a runtime for every tenant prev cannot lend, so that a
	// bad configuration fails before prev loses anything.
	b := &built{tenants: make(map[string]*tenantRuntime, len(cfg.Tenants))}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if prev.canLend(t) {
			continue
		}
		rt, err := newTenantRuntime(t, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].introspection: %w", i, err))
			continue
		}
		if t.Introspection.InsecureSkipVerify && env.logger != nil {
			env.logger.Warn("TLS certificates of the authorization server are not verified (insecure_skip_verify)",
				slog.String("tenant", t.Name))
		}
		b.tenants[t.Name] = rt
	}
	if err := errors.Join(errs...); err != nil {
		b.close()
		return nil, err
	}
	// Second pass: take over the unchanged tenants and wire
	// client → limit → breaker → cache (the cache calls the breaker, which
	// calls the limiter, which calls the client). The breaker sits above
	// the limiter so that while it is open a miss fails at once instead of
	// queueing for a slot that calls hanging on a dead server still hold;
	// it counts only what the server did (a wait for a slot given up is
	// excluded, see introspection.CircuitBreaker.Wrap). It sits below the
	// cache so that hits and coalesced waiters never touch it: a cached
	// token is allowed through an outage, and one call per token counts.
	tenants := make(map[string]*check.Tenant, len(cfg.Tenants))
	breakers := make(map[string]*introspection.CircuitBreaker, len(cfg.Tenants))
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		rt := b.tenants[t.Name]
		if rt == nil {
			rt = prev.takeOver(t)
			b.tenants[t.Name] = rt
		}
		prev.keepBreaker(t, rt, env)
		var client introspection.Introspector = rt.client
		if env.metrics != nil {
			client = env.metrics.Instrument(client, t.Name)
		}
		limited := introspection.Limit(client, t.MaxConcurrentIntrospections)
		guarded := rt.breaker.Wrap(limited)
		if rt.breaker.Enabled() {
			breakers[t.Name] = rt.breaker
		}
		tenants[t.Name] = &check.Tenant{
			Name: t.Name,
			// local cache → shared cache (Redis, shared.go) → breaker → limit → client
			Introspector: rt.store.Wrap(env.shared.Wrap(guarded, sharedcache.Tenant{
				Name: t.Name, Fingerprint: rt.store.Options().Fingerprint,
				MaxTTL: t.Cache.MaxTTL, NegativeTTL: t.Cache.NegativeTTL,
			}), t.Introspection.Timeout),
			Headers: claimheaders.New(headerOptions(cfg, i)),
		}
	}
	if env.metrics != nil {
		env.metrics.SetBreakerStates(func() map[string]int {
			states := make(map[string]int, len(breakers))
			for name, cb := range breakers { // read-only after build
				states[name] = int(cb.State())
			}
			return states
		})
	}
	routes := make([]check.Route, len(cfg.Routes))
	for i := range cfg.Routes {
		routes[i] = route(cfg, &cfg.Routes[i], tenants)
	}
	b.snap = check.NewSnapshot(routes)
	return b, nil
}

// buildEnv is what a snapshot is built with besides the configuration;
// its zero value (for `validate`) instruments nothing.
type buildEnv struct {
	logger         *slog.Logger // nil: nothing logged
	metrics        *telemetry.Metrics
	tracerProvider trace.TracerProvider
	propagator     propagation.TextMapPropagator
	shared         *sharedcache.Shared // nil: no shared cache
}

func newTenantRuntime(t *config.Tenant, env buildEnv) (*tenantRuntime, error) {
	opts := clientOptions(t)
	if env.tracerProvider != nil {
		// Each call to the authorization server is a child client span, and
		// its traceparent reaches the server.
		base, err := introspection.NewTransport(opts)
		if err != nil {
			return nil, err
		}
		opts.Transport = otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(env.tracerProvider),
			otelhttp.WithPropagators(env.propagator),
			otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()))
	}
	client, err := introspection.NewClient(opts)
	if err != nil {
		return nil, err
	}
	store := cache.NewStore(cache.Options{
		Tenant: t.Name,
		// Keys name the server and client too, in Redis as well (whose
		// entries outlive this process and are shared by other replicas).
		Fingerprint: cache.Fingerprint(clientOptions(t)),
		MaxTTL:      t.Cache.MaxTTL,
		NegativeTTL: t.Cache.NegativeTTL,
		MaxEntries:  t.Cache.MaxEntries,
	})
	return &tenantRuntime{clientOpts: clientOptions(t), cache: t.Cache, client: client, store: store,
		breaker: newBreaker(t, env), breakerConf: t.CircuitBreaker}, nil
}

// newBreaker is a closed circuit breaker with t's circuit_breaker settings
// (disabled: one that wraps nothing).
func newBreaker(t *config.Tenant, env buildEnv) *introspection.CircuitBreaker {
	logger := env.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler) // as documented on buildEnv
	}
	cb := &t.CircuitBreaker
	return introspection.NewCircuitBreaker(introspection.BreakerOptions{
		Tenant:              t.Name,
		Disabled:            !cb.Enabled,
		ConsecutiveFailures: cb.ConsecutiveFailures,
		FailureRatio:        cb.FailureRatio,
		MinCalls:            cb.MinCalls,
		Window:              cb.Window,
		CoolDown:            cb.CoolDown,
		Logger:              logger,
	})
}

func clientOptions(t *config.Tenant) introspection.Options {
	in := &t.Introspection
	return introspection.Options{
		Tenant:             t.Name,
		URL:                in.URL,
		AuthMethod:         introspection.AuthMethod(in.AuthMethod),
		ClientID:           in.ClientID,
		ClientSecret:       in.ClientSecret,
		TokenTypeHint:      in.TokenTypeHint,
		Timeout:            in.Timeout,
		CAFile:             in.CAFile,
		InsecureSkipVerify: in.InsecureSkipVerify,
		Headers:            in.Headers,
		PrivateKeyFile:     in.PrivateKeyFile,
		KeyID:              in.KeyID,
		AssertionAudience:  in.AssertionAudience,
		TokenURL:           in.TokenURL,
		ResponseFormat:     in.ResponseFormat,
		JWKSURL:            in.JWKSURL,
		Issuer:             t.Issuer,
	}
}

// headerOptions maps tenant i's claims to headers, and also strips the
// headers every other tenant sets, so none can be spoofed on this tenant's
// routes either.
func headerOptions(cfg *config.Config, i int) claimheaders.Options {
	t := &cfg.Tenants[i]
	o := claimheaders.Options{ClaimsHeader: t.ClaimsHeader, StripAuthorization: t.StripAuthorization}
	for _, ch := range t.ClaimsToHeaders {
		o.Claims = append(o.Claims, claimheaders.ClaimHeader{Claim: ch.Claim, Header: ch.Header})
	}
	for j := range cfg.Tenants {
		if j == i {
			continue
		}
		other := &cfg.Tenants[j]
		for _, ch := range other.ClaimsToHeaders {
			o.AlsoRemove = append(o.AlsoRemove, ch.Header)
		}
		if other.ClaimsHeader != "" {
			o.AlsoRemove = append(o.AlsoRemove, other.ClaimsHeader)
		}
	}
	return o
}

func route(cfg *config.Config, r *config.Route, tenants map[string]*check.Tenant) check.Route {
	cr := check.Route{
		Rule:   routing.Rule{Name: r.Name, Hosts: r.Hosts, PathPrefix: r.PathPrefix, Methods: r.Methods},
		Public: r.Public,
		Tenant: tenants[r.Tenant],
	}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if t.Name != r.Tenant {
			continue
		}
		audiences := t.Audiences
		if len(r.Audiences) > 0 {
			audiences = r.Audiences
		}
		cr.Policy = decision.Policy{
			Realm:      t.Name,
			Issuer:     t.Issuer,
			Leeway:     t.Leeway,
			TokenTypes: t.TokenTypes,
			Audiences:  audiences,
			Scopes:     r.Scopes,
			AnyScopes:  r.AnyScopes,
		}
	}
	return cr
}
