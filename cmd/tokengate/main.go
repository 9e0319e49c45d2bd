// Command tokengate is an Envoy external-authorization service for OAuth 2.0
// bearer tokens. All the work happens in internal/app; main only hands over.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokengate/tokengate/internal/app"
)

// Set at build time with -ldflags "-X main.version=v0.1.0 -X
// main.commit=<git commit> -X main.date=<RFC 3339 commit time>" (the
// Makefile, the Dockerfile and .goreleaser.yaml do). Empty: `tokengate
// version` falls back to what the go command recorded (module version,
// vcs.revision, vcs.time).
var (
	version = ""
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(run())
}

// run is main without os.Exit, so that deferred calls run before the exit.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default: // a reload is already pending
			}
		}
	}()
	return app.Main(ctx, app.Env{
		Args:    os.Args[1:],
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Version: version,
		Commit:  commit,
		Date:    date,
		Reload:  reload,
		Getenv:  os.Getenv,
	})
}
