package app

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/tokengate/tokengate/internal/configwatch"
	"github.com/tokengate/tokengate/introspection/sharedstore/redisstore"
)

type serveFlags struct {
	config, grpcAddress, httpAddress, logLevel string
	drainTimeout                               time.Duration
}

func serveCmd() *command {
	c := &command{
		name:     "serve",
		summary:  "answer Envoy's ext_authz checks over gRPC and HTTP",
		synopsis: "tokengate serve --config FILE [--grpc-address ADDR] [--http-address ADDR] [--log-level LEVEL] [--drain-timeout D]",
		description: `Serve Envoy's ext_authz v3 gRPC API (and grpc.health.v1) on grpc.address, and
/healthz, /readyz, /metrics and HTTP-mode checks (/authz) on http.address.
Logs are JSON lines on stderr; "msg":"serving" says that both listeners accept
connections. SIGHUP, or a change of the config file, reloads the configuration
(an invalid one is logged and the old one stays). SIGTERM or SIGINT drains:
readiness turns 503, in-flight checks finish (up to --drain-timeout), and the
process exits.`,
		examples: []string{
			"tokengate serve --config /etc/tokengate/tokengate.yaml",
			"tokengate serve --config tokengate.yaml --grpc-address 0.0.0.0:9191 --http-address 0.0.0.0:8181",
			"OTEL_TRACES_EXPORTER=otlp tokengate serve --config tokengate.yaml --log-level debug",
		},
		exitCodes: []string{
			"0  stopped by SIGTERM or SIGINT after draining",
			"1  could not start (invalid configuration, a listener address in use, ...) or the drain failed",
			"2  usage error (no --config, an unknown flag, a bad --log-level)",
		},
	}
	c.flags = func(fs *flag.FlagSet) func(context.Context, Env) int {
		var f serveFlags
		fs.StringVar(&f.config, "config", "", "configuration `FILE` (required)")
		fs.StringVar(&f.grpcAddress, "grpc-address", "", "gRPC listen `ADDR`, host:port (overrides grpc.address)")
		fs.StringVar(&f.httpAddress, "http-address", "", "HTTP listen `ADDR`, host:port (overrides http.address)")
		fs.StringVar(&f.logLevel, "log-level", "info", "`LEVEL` of the JSON logs on stderr: debug, info, warn or error")
		fs.DurationVar(&f.drainTimeout, "drain-timeout", 15*time.Second, "how long in-flight checks may take after SIGTERM; `D` is a Go duration")
		return func(ctx context.Context, env Env) int {
			var level slog.Level
			if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
				return c.usageError(env, "--log-level: %v", err)
			}
			if f.config == "" {
				return c.usageError(env, "--config is required")
			}
			return serveCommand(ctx, env, f, level)
		}
	}
	return c
}

func serveCommand(ctx context.Context, env Env, f serveFlags, level slog.Level) int {
	logger := newLogger(env.Stderr, level)
	// Process-wide, so set here, once, rather than by a library: go-redis's
	// messages go to slog's default logger at debug level (dropped at its
	// default level), never as plain text on stderr.
	redisstore.RouteRedisLogs(slog.Default())
	// Watched before the first load, so that no change can fall between
	// the two; one that does costs a redundant reload at most.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changed, err := configwatch.Watch(watchCtx, f.config, configwatch.Options{Logger: logger})
	if err != nil {
		logger.Warn("the config file is not watched; reload with SIGHUP", slog.String("error", err.Error()))
	}
	srv, err := Start(ctx, Options{
		ConfigPath:  f.config,
		GRPCAddress: f.grpcAddress,
		HTTPAddress: f.httpAddress,
		Logger:      logger,
		Version:     Version(env.Version),
		Getenv:      env.Getenv,
	})
	if err != nil {
		for _, line := range errorLines(err) {
			logger.Error("cannot start", slog.String("error", line))
		}
		return 1
	}
	return serveUntilStopped(ctx, srv, logger, env.Reload, changed, f)
}

// serveUntilStopped reloads srv on each reload request (SIGHUP) and each
// change of the config file, and drains it once ctx ends (SIGTERM or
// SIGINT), for up to the drain timeout: 0 when the drain succeeded, else 1.
func serveUntilStopped(ctx context.Context, srv *Server, logger *slog.Logger, reload, changed <-chan struct{}, f serveFlags) int {
	for {
		select {
		case <-reload:
			_ = srv.Reload(ctx) // logged and counted inside
		case _, ok := <-changed:
			if !ok {
				changed = nil // the watch ended with ctx; never ready again
				continue
			}
			logger.Info("config file changed, reloading", slog.String("path", f.config))
			_ = srv.Reload(ctx)
		case <-ctx.Done():
			drainCtx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
			err := srv.Shutdown(drainCtx)
			cancel()
			if err != nil {
				logger.Error("shutdown", slog.String("error", err.Error()))
				return 1
			}
			return 0
		}
	}
}
