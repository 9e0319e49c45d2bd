// Command tgprof is tokengate (the same internal/app.Main as
// cmd/tokengate) that also writes CPU and allocation profiles of the whole
// run when LOADGEN_PROFILE is set: for the load generator's --profile,
// without any profiling code in the released binary.
//
//	go build -o bin/tokengate-prof ./bench/tgprof
//	go run ./bench/loadgen --tokengate bin/tokengate-prof --profile /tmp/prof --only grpc
//	go tool pprof -top /tmp/prof/tokengate.cpu.pprof
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokengate/tokengate/bench/internal/profile"
	"github.com/tokengate/tokengate/internal/app"
)

func main() {
	os.Exit(run())
}

func run() int {
	stopProfile, err := profile.Start(os.Getenv(profile.EnvVar))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tgprof: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := app.Main(ctx, app.Env{
		Args:    os.Args[1:],
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Version: "tgprof",
		Reload:  make(chan struct{}),
		Getenv:  os.Getenv,
	})
	if err := stopProfile(); err != nil {
		fmt.Fprintf(os.Stderr, "tgprof: %v\n", err)
		return 2
	}
	return code
}
