// Command loadgen is tokengate's closed-loop load generator. It starts a fake
// RFC 7662 authorization server in process, tokengate and a no-op ext_authz
// server as subprocesses on 127.0.0.1, and measures: throughput and latency
// against the no-op floor, a cold burst of one new token, a repeated inactive
// token, a flood of distinct tokens, and (when redis-server is installed)
// two replicas sharing a Redis second-level cache. It prints a report and
// exits 0; it exits non-zero only when something failed to run. A missed
// target is a "TARGET MISSED: ..." line, not a failure.
//
//	go run ./bench/loadgen [--quick] [--tokengate bin/tokengate] [--duration 4s] [--rounds 3] [--clients 32]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// options is the parsed command line.
type options struct {
	tokengate  string
	duration   time.Duration
	warmup     time.Duration
	rounds     int
	clients    int
	conns      int
	asDelay    time.Duration
	gomaxprocs int
	quick      bool
	noopServer bool // hidden: run as the no-op ext_authz server
}

// noopFlag is the hidden flag of the no-op server mode.
const noopFlag = "noop-server"

// parseFlags reads the command line; --quick shortens every phase unless a
// flag sets that phase explicitly.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.tokengate, "tokengate", "bin/tokengate", "path of the tokengate binary")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured time of each throughput round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each throughput round")
	fs.IntVar(&o.rounds, "rounds", 3, "throughput rounds per target (noop and tokengate alternate)")
	fs.IntVar(&o.clients, "clients", 32, "concurrent closed-loop clients in the throughput rounds")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections per target, shared by the clients")
	fs.DurationVar(&o.asDelay, "as-delay", 20*time.Millisecond, "the fake authorization server's delay per call")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS for both servers (0: leave the environment as it is)")
	fs.BoolVar(&o.quick, "quick", false, "short phases, for a smoke test")
	fs.BoolVar(&o.noopServer, noopFlag, false, "")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: loadgen [flags]\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != noopFlag {
				fmt.Fprintf(fs.Output(), "  --%s %s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["warmup"] {
			o.warmup = 300 * time.Millisecond
		}
		if !set["rounds"] {
			o.rounds = 1
		}
	}
	if o.rounds < 1 || o.clients < 1 || o.conns < 1 || o.duration <= 0 || o.warmup < 0 {
		return o, fmt.Errorf("--rounds, --clients, --conns and --duration must be positive")
	}
	return o, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	if o.noopServer {
		err = serveNoop(ctx)
	} else {
		err = run(ctx, os.Stdout, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// run is one complete load-generator run. Every deferred step runs on
// return, error or panic in this goroutine: the connections close, both
// subprocesses stop, the fake authorization server stops, the temporary
// directory goes.
func run(ctx context.Context, out io.Writer, o options) error {
	if _, err := os.Stat(o.tokengate); err != nil {
		return fmt.Errorf("tokengate binary (build it with make build): %w", err)
	}
	env := os.Environ()
	if o.gomaxprocs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.gomaxprocs))
	}
	gmp, ok := os.LookupEnv("GOMAXPROCS")
	if o.gomaxprocs > 0 {
		gmp, ok = strconv.Itoa(o.gomaxprocs), true
	}
	if !ok {
		gmp = "unset (Go default: " + strconv.Itoa(runtime.NumCPU()) + " CPUs)"
	}
	fmt.Fprintf(out, "tokengate load generator: %s, %d CPUs, servers' GOMAXPROCS %s, fake AS delay %v, quick=%v, load average %s\n",
		runtime.Version(), runtime.NumCPU(), gmp, o.asDelay, o.quick, loadAverage())

	dir, err := os.MkdirTemp("", "tokengate-loadgen-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	as, err := startFakeAS(ctx, o.asDelay)
	if err != nil {
		return err
	}
	defer as.close()
	tg, tgAddr, err := startTokengate(ctx, o.tokengate, dir, as.url, env)
	if err != nil {
		return err
	}
	defer tg.stop()
	noop, noopAddr, err := startNoop(ctx, env)
	if err != nil {
		return err
	}
	defer noop.stop()
	fmt.Fprintf(out, "tokengate pid %d on %s; noop server pid %d on %s; fake AS on %s\n",
		tg.pid(), tgAddr, noop.pid(), noopAddr, as.url)

	tgPool, err := dialPool(tgAddr, o.conns)
	if err != nil {
		return err
	}
	defer tgPool.close()
	noopPool, err := dialPool(noopAddr, o.conns)
	if err != nil {
		return err
	}
	defer noopPool.close()
	return scenarios(ctx, out, o, as, tg, noop, tgPool, noopPool)
}

// scenarios runs the five measurements in order and prints the summary.
func scenarios(ctx context.Context, out io.Writer, o options, as *fakeAS, tg, noop *child, tgPool, noopPool *pool) error {
	var r results
	var err error
	targets := []target{{targetNoop, noopPool, noop.pid()}, {targetTokengate, tgPool, tg.pid()}}
	r.tp, err = runThroughput(ctx, out, targets,
		throughputPlan{rounds: o.rounds, clients: o.clients, warmup: o.warmup, duration: o.duration})
	if err != nil {
		return err
	}
	if r.burst, err = coldBurst(ctx, out, tgPool, as, 1000); err != nil {
		return err
	}
	inactiveFor := 3500 * time.Millisecond
	plan := floodPlan{tokens: 20_000, clients: 64, bound: 15 * time.Second, probes: 4, baseline: 2 * time.Second}
	if o.quick {
		inactiveFor = 1500 * time.Millisecond
		plan.tokens, plan.bound, plan.baseline = 2_000, 4*time.Second, 500*time.Millisecond
	}
	if r.inactive, err = repeatInactive(ctx, out, tgPool, as, 8, inactiveFor); err != nil {
		return err
	}
	if r.flood, err = flood(ctx, out, tgPool, as, tg.pid(), plan); err != nil {
		return err
	}
	if r.replicas, err = twoReplicas(ctx, out, o, as, noop, noopPool); err != nil {
		return err
	}
	if n := as.badAuth.Load(); n > 0 {
		fmt.Fprintf(out, "warning: the fake authorization server rejected %d calls for bad client credentials\n", n)
	}
	printSummary(out, r)
	fmt.Fprintf(out, "(1-minute load average at the end: %s on %d CPUs; other processes on this machine skew every figure)\n",
		loadAverage(), runtime.NumCPU())
	return nil
}
