package app

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

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
