// Package app is tokengate's wiring: the command line, building the runtime
// snapshot from the configuration, and the servers' lifecycle.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
