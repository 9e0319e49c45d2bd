package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tokengate/tokengate/internal/config"
)

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
		printErrors(env.Stderr, err)
		return 1
	}
	_, _ = fmt.Fprintln(env.Stdout, "config OK")
	return 0
}

// errorLines splits joined errors (errors.Join separates them with
// newlines) into one message a line.
func errorLines(err error) []string { return strings.Split(err.Error(), "\n") }

// printErrors writes err's messages to w (stderr), one a line.
func printErrors(w io.Writer, err error) {
	for _, line := range errorLines(err) {
		_, _ = fmt.Fprintln(w, line)
	}
}
