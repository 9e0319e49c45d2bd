// Package app is tokengate's wiring: the command line, building the runtime
// snapshot from the configuration, and the servers' lifecycle.
package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/configwatch"
)

// Env is what the process hands to Main.
type Env struct {
	Args           []string
	Stdout, Stderr io.Writer
	Version        string
	// Reload delivers reload requests (SIGHUP); nil disables them.
	Reload <-chan struct{}
	// Getenv reads the process environment (os.Getenv in main): the
	// OTEL_* variables that choose where traces and metrics go. nil: an
	// empty environment, so nothing is exported (in-process tests).
	Getenv func(string) string
}

const usage = `usage:
  tokengate serve    --config FILE [--grpc-address ADDR] [--http-address ADDR] [--log-level LEVEL] [--drain-timeout D]
  tokengate validate --config FILE
  tokengate check    --config FILE [--method M] [--host H] [--path P] [--header "k: v" ...] [--route NAME] [--token T | --token-file F]
  tokengate version
`

// Main runs one command and returns the process exit code. ctx is cancelled
// on SIGTERM/SIGINT.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	switch cmd, args := env.Args[0], env.Args[1:]; cmd {
	case "serve":
		return serveCommand(ctx, env, args)
	case "validate":
		return validateCommand(env, args)
	case "check":
		return checkCommand(ctx, env, args)
	case "version", "--version", "-version":
		fmt.Fprintln(env.Stdout, "tokengate", Version(env.Version))
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(env.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "unknown command %q\n%s", cmd, usage)
		return 2
	}
}

// Version is the build's version: the linker-set one, else the module's.
func Version(linked string) string {
	if linked != "" {
		return linked
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func validateCommand(env Env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	path := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(env.Stderr, "--config is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = checkBuildable(cfg)
	}
	if err != nil {
		for _, line := range errorLines(err) {
			fmt.Fprintln(env.Stderr, line)
		}
		return 1
	}
	fmt.Fprintln(env.Stdout, "config OK")
	return 0
}

// errorLines splits joined errors (errors.Join separates them with
// newlines) into one message a line.
func errorLines(err error) []string { return strings.Split(err.Error(), "\n") }

type serveFlags struct {
	config, grpcAddress, httpAddress, logLevel string
	drainTimeout                               time.Duration
}

func serveCommand(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "configuration file")
	fs.StringVar(&f.grpcAddress, "grpc-address", "", "gRPC listen address (overrides grpc.address)")
	fs.StringVar(&f.httpAddress, "http-address", "", "HTTP listen address (overrides http.address)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 15*time.Second, "how long in-flight checks may take after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(env.Stderr, "--log-level: %v\n", err)
		return 2
	}
	if f.config == "" {
		fmt.Fprintln(env.Stderr, "--config is required")
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
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
	for {
		select {
		case <-env.Reload:
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
