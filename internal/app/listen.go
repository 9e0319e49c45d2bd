package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tokengate/tokengate/extauthz/grpcauthz"
	"github.com/tokengate/tokengate/extauthz/httpauthz"
	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/events"
)

// The listeners: gRPC (ext_authz and health), HTTP (probes, metrics and
// HTTP-mode checks) and, when configured, admin. Bound once at Start; a
// reload keeps them.

func (s *Server) listen(ctx context.Context, cfg *config.Config) error {
	grpcAddr := firstNonEmpty(s.opts.GRPCAddress, cfg.GRPC.Address)
	httpAddr := firstNonEmpty(s.opts.HTTPAddress, cfg.HTTP.Address)
	var lc net.ListenConfig
	grpcLis, err := lc.Listen(ctx, "tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	// On failure, the listeners made so far are closed and the failure, not
	// a Close error, is what is returned.
	httpLis, err := lc.Listen(ctx, "tcp", httpAddr)
	if err != nil {
		_ = grpcLis.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	// The certificates are re-read by Reload (certReloader, tls.go).
	if s.tls, err = newTLSListeners(cfg); err != nil {
		_ = grpcLis.Close()
		_ = httpLis.Close()
		return err
	}
	var grpcOpts []grpc.ServerOption
	if s.tls.grpc != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(s.tls.grpc.serverConfig())))
	}
	if s.tls.http != nil {
		httpLis = tls.NewListener(httpLis, s.tls.http.serverConfig())
	}
	if s.tel.Exporting {
		// A server span per call is only worth its cost when spans are
		// exported; the check span alone keeps ids for logs otherwise.
		grpcOpts = append(grpcOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(s.tel.TracerProvider),
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()), // the contract's metrics only
			otelgrpc.WithPropagators(s.tel.Propagator),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)))
	}
	// Explicit bounds: a CheckRequest carries headers (and, if Envoy is told
	// to, part of the body); nothing legitimate comes near 4 MiB. The codec
	// turns invalid UTF-8 into a deny instead of a gRPC error.
	grpcOpts = append(grpcOpts, grpc.MaxRecvMsgSize(4<<20), grpc.ForceServerCodecV2(grpcauthz.Codec()))
	grpcOpts = append(grpcOpts, grpcBounds()...)
	s.grpc = grpc.NewServer(grpcOpts...)
	grpcauthz.Register(s.grpc, grpcauthz.New(s.checker, grpcauthz.Options{Propagator: s.tel.Propagator}))
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, drainingHealth{Server: s.health, draining: &s.draining})
	s.http = newHTTPServer(s.httpHandler(), s.opts.IdleTimeout)
	if err := s.listenAdmin(ctx, cfg); err != nil {
		_ = grpcLis.Close()
		_ = httpLis.Close()
		return err
	}
	s.grpcAddr, s.httpAddr = grpcLis.Addr().String(), httpLis.Addr().String()
	s.served.Add(2)
	go func() {
		defer s.served.Done()
		if err := s.grpc.Serve(grpcLis); err != nil {
			s.log.Error("grpc server stopped", slog.String("error", err.Error()))
		}
	}()
	go func() {
		defer s.served.Done()
		if err := s.http.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", slog.String("error", err.Error()))
		}
	}()
	s.setServing(true)
	s.log.Info("serving", slog.String("grpc_address", s.grpcAddr), slog.String("http_address", s.httpAddr),
		slog.String("version", s.opts.Version))
	return nil
}

// GRPCAddress and HTTPAddress are the bound listener addresses.
func (s *Server) GRPCAddress() string { return s.grpcAddr }

func (s *Server) HTTPAddress() string { return s.httpAddr }

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintln(w, "not ready")
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", s.tel.MetricsHandler())
	// Checks go to the adapter before the mux, which would clean and
	// redirect a path like /authz/../x instead of letting the check judge it.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpauthz.IsCheck(r) {
			s.authz.Load().ServeHTTP(w, r)
			return
		}
		if events.IsEvent(r) { // POST /events/<tenant>/...
			s.events.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// listenAdmin binds and serves the admin listener when cfg has one.
func (s *Server) listenAdmin(ctx context.Context, cfg *config.Config) error {
	if cfg.Admin == nil {
		return nil
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", cfg.Admin.Address)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	if s.tls.admin != nil { // admin.tls: TLS, or mTLS; certificates re-read by Reload (tls.go)
		lis = tls.NewListener(lis, s.tls.admin.serverConfig())
	}
	s.admin = newHTTPServer(admin.New(cfg.Admin.Token, s.revoker, s.log), s.opts.IdleTimeout)
	s.adminAddr = lis.Addr().String()
	s.adminDone = make(chan struct{})
	go func() {
		defer close(s.adminDone)
		if err := s.admin.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", slog.String("error", err.Error()))
		}
	}()
	s.log.Info("admin listening", slog.String("admin_address", s.adminAddr))
	return nil
}

// AdminAddress is the bound admin listener address ("" when off).
func (s *Server) AdminAddress() string { return s.adminAddr }
