package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/httpauthz"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/events"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/internal/tenant"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/introspection/sharedstore/redisstore"
)

// Options configures Start.
type Options struct {
	ConfigPath  string
	GRPCAddress string // overrides grpc.address when set
	HTTPAddress string // overrides http.address when set
	Logger      *slog.Logger
	Version     string
	// Telemetry is the process's OpenTelemetry setup; nil: Start builds
	// one from the OTEL_* variables Getenv reads, owns it, and flushes it
	// on Shutdown.
	Telemetry *telemetry.Telemetry
	// Getenv reads the OTEL_* variables when Telemetry is nil; nil: none
	// set, so nothing is exported (spans still carry ids for the logs).
	Getenv func(string) string
	// IdleTimeout closes idle keep-alive connections of the HTTP and admin
	// listeners; 0: httpIdleTimeout (tests shorten it).
	IdleTimeout time.Duration
}

// Server is a running tokengate: the gRPC and HTTP listeners over one
// Checker. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	tel     *telemetry.Telemetry
	metrics *telemetry.Metrics
	checker *check.Checker
	grpc    *grpc.Server
	health  *health.Server
	// draining is set when Shutdown starts (health.go ends Watch streams).
	draining atomic.Bool
	http     *http.Server
	ready    atomic.Bool
	tls      tlsListeners // certificates of the TLS listeners (tls.go)

	grpcAddr, httpAddr string
	served             sync.WaitGroup

	// authz is the HTTP-mode adapter; Reload swaps it when
	// http.forwarded_headers changes.
	authz atomic.Pointer[httpauthz.Handler]
	// fixed is what a reload cannot change (restart.go).
	fixed fixedAtStart

	mu      sync.Mutex // serializes Reload and Shutdown
	current *built
	cfg     *config.Config // what current was built from
	stopped bool

	// The redis and admin sections' runtime (shared.go), fixed at start:
	// store and shared are nil without redis; revoker is always there,
	// evicting this replica's caches only without redis.
	store     *redisstore.Store
	shared    *sharedcache.Shared
	revoker   *revocation.Revoker
	events    *events.Handler // revocation events (events.go)
	admin     *http.Server
	adminAddr string
	adminDone chan struct{}
}

const authService = "envoy.service.auth.v3.Authorization"

// Start loads the configuration, binds both listeners and serves. It
// returns once both accept connections, after logging "serving".
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tel := o.Telemetry
	if tel == nil {
		var err error
		if tel, err = telemetry.New(ctx, telemetry.Options{Version: o.Version, Getenv: o.Getenv}); err != nil {
			return nil, err
		}
	}
	metrics, err := telemetry.NewMetrics(tel.Meter)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, log: o.Logger, tel: tel, metrics: metrics, fixed: newFixedAtStart(cfg, o)}
	if err := s.startShared(cfg); err != nil {
		return nil, err
	}
	b, err := build(cfg, nil, s.buildEnv())
	if err != nil {
		s.closeShared() // the build's error is the one reported
		return nil, err
	}
	s.current, s.cfg = b, cfg
	s.revoker.SetStores(b.stores())
	s.events = s.newEvents(ctx)
	if err := s.events.SetTenants(b.events); err != nil {
		b.close()
		s.closeShared()
		return nil, err
	}
	if cfg.Redis != nil || cfg.Admin != nil {
		metrics.SetSharedStats(s.sharedStats)
	}
	s.checker = check.New(b.snap, check.Options{
		Logger: o.Logger, Tracer: tel.Tracer, SpansOnlyInTraces: !tel.Exporting, Observer: checkMetrics{metrics},
		Revocations: s.revoker, // markers of pushed events
	})
	metrics.SetCacheSizer(s)
	metrics.SetBreakerStates(s)
	metrics.SetRoutes(len(cfg.Routes))
	s.setForwardedHeaders(cfg.HTTP.ForwardedHeaders)
	if err := s.listen(ctx, cfg); err != nil {
		b.close()
		s.closeShared() // the listen error is the one reported
		return nil, err
	}
	return s, nil
}

// Checker is the server's checker, for in-process callers such as tests.
func (s *Server) Checker() *check.Checker { return s.checker }

func (s *Server) setServing(on bool) {
	s.ready.Store(on)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if on {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(authService, st)
}

// Reload re-reads the configuration. A valid one replaces the old for new
// checks; an invalid one is logged with every error and the old one stays.
func (s *Server) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := config.Load(s.opts.ConfigPath)
	var b *built
	if err == nil {
		err = s.fixed.check(cfg)
	}
	if err == nil {
		b, err = s.buildForReload(cfg) // build, and the new certificates
	}
	if err == nil {
		if err = s.events.SetTenants(b.events); err != nil {
			b.release(s.current)
		}
	}
	s.metrics.Reloaded(ctx, err == nil)
	if err != nil {
		// One line for the whole failure: "error" has every error joined,
		// "errors" lists them.
		lines := errorLines(err)
		s.log.ErrorContext(ctx, "config reload failed, keeping the old config",
			slog.String("error", strings.Join(lines, "; ")), slog.Any("errors", lines))
		return err
	}
	s.checker.Swap(b.snap)
	s.metrics.SetRoutes(len(cfg.Routes))
	old := s.current
	s.current = b
	changes := config.Diff(s.cfg, cfg)
	s.cfg = cfg
	s.revoker.SetStores(b.stores())
	s.setForwardedHeaders(cfg.HTTP.ForwardedHeaders)
	old.release(b) // what b took over stays open
	s.log.LogAttrs(ctx, slog.LevelInfo, "config reloaded", changeAttrs(changes)...)
	return nil
}

// changeAttrs are the log attributes saying what a reload changed: the
// names of tenants and routes added, removed and changed, each list only
// when not empty.
func changeAttrs(c config.Changes) []slog.Attr {
	if c.Empty() {
		return []slog.Attr{slog.Bool("unchanged", true)}
	}
	var attrs []slog.Attr
	for _, x := range []struct {
		key   string
		names []string
	}{
		{"tenants_added", c.TenantsAdded}, {"tenants_removed", c.TenantsRemoved}, {"tenants_changed", c.TenantsChanged},
		{"routes_added", c.RoutesAdded}, {"routes_removed", c.RoutesRemoved}, {"routes_changed", c.RoutesChanged},
	} {
		if len(x.names) > 0 {
			attrs = append(attrs, slog.Any(x.key, x.names))
		}
	}
	if c.RouteOrder {
		attrs = append(attrs, slog.Bool("routes_reordered", true))
	}
	if c.Other {
		attrs = append(attrs, slog.Bool("other_settings_changed", true))
	}
	return attrs
}

// Shutdown drains: readiness and gRPC health turn NOT_SERVING at once, the
// gRPC listener stops accepting, and checks in flight finish until ctx ends,
// when the remaining connections are cut. The HTTP listener keeps answering
// (/readyz: 503) until the gRPC checks are done, then drains too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.draining.Store(true)
	s.setServing(false)
	s.log.Info("draining")
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
	httpErr := s.http.Shutdown(ctx)
	if httpErr != nil {
		_ = s.http.Close() // forced: Shutdown's error is the one returned
	}
	s.served.Wait()
	s.stopShared(ctx)
	s.current.close()
	if s.opts.Telemetry == nil { // ours: flush and stop it
		if err := s.tel.Shutdown(ctx); err != nil {
			s.log.Warn("telemetry shutdown", slog.String("error", err.Error()))
		}
	}
	s.log.Info("stopped")
	if httpErr != nil && !errors.Is(httpErr, context.DeadlineExceeded) {
		return httpErr
	}
	return nil
}

// setForwardedHeaders points HTTP-mode checks at the header family f
// (http.forwarded_headers), replacing the adapter when f changed.
func (s *Server) setForwardedHeaders(f string) {
	if cur := s.authz.Load(); cur != nil && cur.ForwardedHeaders() == f {
		return
	}
	s.authz.Store(httpauthz.New(s.checker, httpauthz.Options{ForwardedHeaders: f, Propagator: s.tel.Propagator}))
}

// buildEnv is what building a snapshot needs from the running server.
func (s *Server) buildEnv() tenant.Env {
	env := tenant.Env{Logger: s.log, Metrics: s.metrics, TracerProvider: s.tel.TracerProvider, Propagator: s.tel.Propagator,
		Shared: s.shared}
	if s.shared != nil { // with redis: the jtis of DPoP proofs are shared too
		env.SharedReplay = s.shared.ReplayCache(s.store)
	}
	return env
}
