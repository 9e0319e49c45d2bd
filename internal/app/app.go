// Package app is tokengate's wiring: the command line, building the runtime
// snapshot from the configuration, and the servers' lifecycle.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/configwatch"
	"github.com/tokengate/tokengate/introspection/sharedcache"
)

// Env is what the process hands to Main.
type Env struct {
	Args           []string
	Stdout, Stderr io.Writer
	// Version, Commit and Date are stamped at build time (-ldflags -X
	// main.version=... main.commit=... main.date=...; see the Makefile
	// and .goreleaser.yaml); empty when not.
	Version, Commit, Date string
	// Reload delivers reload requests (SIGHUP); nil disables them.
	Reload <-chan struct{}
	// Getenv reads the process environment (os.Getenv in main): the
	// OTEL_* variables that choose where traces and metrics go. nil: an
	// empty environment, so nothing is exported (in-process tests).
	Getenv func(string) string
}

const topHelp = `tokengate is an Envoy external-authorization (ext_authz) service for OAuth 2.0
bearer tokens: for each request it finds the route and tenant, introspects the
token (RFC 7662) at the tenant's authorization server, checks audience, scope,
expiry, issuer and token type, and answers allow or deny.

usage: tokengate COMMAND [flags]

Commands:
%s
Run 'tokengate COMMAND --help' (or 'tokengate help COMMAND') for a command's
flags, examples and exit codes. Documentation: https://github.com/tokengate/tokengate
`

// command is one subcommand: its help text and what runs it.
type command struct {
	name, summary string
	// synopsis is the usage line after "usage: ".
	synopsis    string
	description string
	examples    []string
	exitCodes   []string
	// flags defines the command's flags on fs and returns what runs the
	// command once they are parsed.
	flags func(fs *flag.FlagSet) func(ctx context.Context, env Env) int
}

// commands in the order the help lists them ("help" is handled by Main).
func commands() []*command {
	return []*command{serveCmd(), validateCmd(), checkCmd(), versionCmd()}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// Main runs one command and returns the process exit code: 0 success (and
// --help), 1 failure, 2 usage error (check: 0 allow, 1 deny, 2 error). ctx
// is cancelled on SIGTERM/SIGINT.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) == 0 {
		printTopHelp(env.Stderr)
		return 2
	}
	switch name, args := env.Args[0], env.Args[1:]; name {
	case "help", "--help", "-help", "-h":
		if len(args) == 0 || name != "help" {
			printTopHelp(env.Stdout)
			return 0
		}
		c := lookup(args[0])
		if c == nil || len(args) > 1 {
			_, _ = fmt.Fprintf(env.Stderr, "tokengate help: unknown command %q\n\n", strings.Join(args, " "))
			printTopHelp(env.Stderr)
			return 2
		}
		return c.run(ctx, env, []string{"--help"})
	case "--version", "-version":
		return versionCmd().run(ctx, env, args)
	default:
		c := lookup(name)
		if c == nil {
			_, _ = fmt.Fprintf(env.Stderr, "tokengate: unknown command %q\n\n", name)
			printTopHelp(env.Stderr)
			return 2
		}
		return c.run(ctx, env, args)
	}
}

// printTopHelp writes the list of commands. Here as in every message to
// the terminal, a failed write is not checked: it has nowhere to be reported.
func printTopHelp(w io.Writer) {
	var list strings.Builder
	tw := tabwriter.NewWriter(&list, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		_, _ = fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_, _ = fmt.Fprintf(tw, "  %s\t%s\n", "help", "print this help, or a command's: tokengate help COMMAND")
	_ = tw.Flush() // into a strings.Builder: cannot fail
	_, _ = fmt.Fprintf(w, topHelp, list.String())
}

// run parses args and runs c. --help (-h) prints c's help on stdout and
// exits 0; a usage error (an unknown flag, a bad value, a stray argument)
// is reported on stderr with the usage line and exits 2.
func (c *command) run(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	// The flag package would print errors and the usage itself, both to
	// one writer; help goes to stdout and errors to stderr instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runParsed := c.flags(fs)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(env.Stdout, fs)
		return 0
	case err != nil:
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag --" + strings.TrimPrefix(name, "-")
		}
		return c.usageError(env, "%s", msg)
	case fs.NArg() > 0:
		return c.usageError(env, "unexpected argument %q", fs.Arg(0))
	}
	return runParsed(ctx, env)
}

// usageError reports a usage error of c on stderr and returns 2.
func (c *command) usageError(env Env, format string, args ...any) int {
	_, _ = fmt.Fprintf(env.Stderr, "tokengate %s: %s\nusage: %s\nRun 'tokengate %s --help' for details.\n",
		c.name, fmt.Sprintf(format, args...), c.synopsis, c.name)
	return 2
}

// printHelp writes c's help: usage, description, flags, examples, exit codes.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	_, _ = fmt.Fprintf(w, "usage: %s\n\n%s\n", c.synopsis, strings.TrimSpace(c.description))
	var flags strings.Builder
	tw := tabwriter.NewWriter(&flags, 0, 0, 3, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		switch f.DefValue {
		case "", "false", "0", "[]":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	_, _ = fmt.Fprintf(tw, "  %s\t%s\n", "-h, --help", "print this help and exit 0")
	_ = tw.Flush() // into a strings.Builder: cannot fail
	_, _ = fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	_, _ = fmt.Fprintf(w, "\nExamples:\n")
	for _, e := range c.examples {
		_, _ = fmt.Fprintf(w, "  %s\n", e)
	}
	_, _ = fmt.Fprintf(w, "\nExit codes:\n")
	for _, e := range c.exitCodes {
		_, _ = fmt.Fprintf(w, "  %s\n", e)
	}
}

func versionCmd() *command {
	return &command{
		name:     "version",
		summary:  "print the version, commit and build date",
		synopsis: "tokengate version",
		description: `Print the version. A release or "make build" stamps the version, the commit and
the build date (the commit's time, so that builds are reproducible) into the
binary; without them the commit and date come from the VCS information the go
command records (go build in a git checkout).`,
		examples: []string{
			"tokengate version    # tokengate v0.1.0 (commit 0d3bd1f2a9c4, built 2026-12-01T00:00:00Z)",
		},
		exitCodes: []string{"0  printed", "2  usage error"},
		flags: func(*flag.FlagSet) func(context.Context, Env) int {
			return func(_ context.Context, env Env) int {
				_, _ = fmt.Fprintln(env.Stdout, "tokengate", versionLine(env.Version, env.Commit, env.Date))
				return 0
			}
		},
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

// versionLine is what `tokengate version` prints after the name: the
// version, then the commit and build date when known, e.g.
// "v0.1.0 (commit 0d3bd1f2a9c4, built 2026-12-01T00:00:00Z)". A binary
// built without -ldflags (go build, go install) falls back to the VCS
// revision and commit time the go command recorded, if any.
func versionLine(version, commit, date string) string {
	if version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			if commit == "" && settings["vcs.revision"] != "" {
				commit = shortCommit(settings["vcs.revision"])
				if settings["vcs.modified"] == "true" {
					commit += "-dirty"
				}
			}
			if date == "" {
				date = settings["vcs.time"]
			}
		}
	}
	var extra []string
	if commit != "" {
		extra = append(extra, "commit "+shortCommit(commit))
	}
	if date != "" {
		extra = append(extra, "built "+date)
	}
	line := Version(version)
	if len(extra) > 0 {
		line += " (" + strings.Join(extra, ", ") + ")"
	}
	return line
}

// shortCommit abbreviates a full hexadecimal commit id to 12 digits.
func shortCommit(c string) string {
	if len(c) < 40 {
		return c
	}
	for i := 0; i < len(c); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(c[i])) {
			return c
		}
	}
	return c[:12]
}

func validateCmd() *command {
	c := &command{
		name:     "validate",
		summary:  "check a configuration file and print every error",
		synopsis: "tokengate validate --config FILE",
		description: `Load a configuration file exactly as serve would (strict YAML, ${NAME}
environment variables, cross-references between routes and tenants, TLS,
private key and secret files) without listening or calling any authorization
server. Prints "config OK", or every error on stderr, one a line.`,
		examples: []string{
			"tokengate validate --config /etc/tokengate/tokengate.yaml",
			"DEMO_AS_URL=http://127.0.0.1:9400 tokengate validate --config examples/demo/tokengate.yaml",
		},
		exitCodes: []string{
			`0  the configuration is valid ("config OK" on stdout)`,
			"1  it is not: every error on stderr, one a line",
			"2  usage error (no --config, an unknown flag)",
		},
	}
	c.flags = func(fs *flag.FlagSet) func(context.Context, Env) int {
		path := fs.String("config", "", "configuration `FILE` (required)")
		return func(_ context.Context, env Env) int {
			if *path == "" {
				return c.usageError(env, "--config is required")
			}
			return validateCommand(env, *path)
		}
	}
	return c
}

func validateCommand(env Env, path string) int {
	cfg, err := config.Load(path)
	if err == nil {
		err = checkBuildable(cfg)
	}
	if err != nil {
		for _, line := range errorLines(err) {
			_, _ = fmt.Fprintln(env.Stderr, line)
		}
		return 1
	}
	_, _ = fmt.Fprintln(env.Stdout, "config OK")
	return 0
}

// errorLines splits joined errors (errors.Join separates them with
// newlines) into one message a line.
func errorLines(err error) []string { return strings.Split(err.Error(), "\n") }

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
	sharedcache.RouteRedisLogs(slog.Default())
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
