// Command loadgen is tokengate's closed-loop load generator. It starts a fake
// RFC 7662 authorization server in process, tokengate and a no-op ext_authz
// server as subprocesses on 127.0.0.1, and measures: throughput and latency
// against the no-op floor, a cold burst of one new token, a repeated inactive
// token, a flood of distinct tokens, and (when redis-server is installed)
// two replicas sharing a Redis second-level cache. It prints a report and
// exits 0; it exits non-zero only when something failed to run. A missed
// target is a "TARGET MISSED: ..." line, not a failure. The results are
// also written as bench/results/latest.md (a Markdown table) and
// latest.svg (a chart of it), or into --results.
//
// Step 1b compares HTTP mode the same way: tokengate's /authz against a
// no-op HTTP server writing tokengate's allow response.
//
//	go run ./bench/loadgen [--quick] [--tokengate bin/tokengate] [--duration 4s] [--rounds 3] [--clients 32] [--results bench/results]
//	go run ./bench/loadgen --only http --server-cpus 0 --client-cpus 1   # HTTP mode, server on one core
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tokengate/tokengate/bench/internal/profile"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
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
	together   bool   // load both targets of a throughput round at once
	only       string // "": every step; grpc, http or throughput: only those throughput steps
	results    string // directory of latest.md and latest.svg; "": none written
	profile    string // directory the servers write CPU and allocation profiles into; "": none
	serverCPUs []int  // pin the servers to these CPUs (nil: not pinned)
	clientCPUs []int  // pin this process to these CPUs (nil: not pinned)
	noopServer bool   // hidden: run as the no-op ext_authz server
	noopHeader string // hidden: the no-op HTTP server's response headers (JSON)
}

// noopFlag is the hidden flag of the no-op server mode, noopHeadersFlag
// the hidden flag with its HTTP response headers.
const (
	noopFlag        = "noop-server"
	noopHeadersFlag = "noop-http-headers"
)

// childCPUs is the CPUs every server this process starts is pinned to
// (options.serverCPUs), set before the first one starts.
var childCPUs []int

// parseCPUList reads a list such as "0", "0,2" or "0-3,6" (as taskset -c).
func parseCPUList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= 1024 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

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
	fs.BoolVar(&o.together, "together", false, "throughput rounds load the no-op server and tokengate at once (the same contention for both; pin them to one CPU with --server-cpus to compare work per check)")
	fs.StringVar(&o.results, "results", defaultResultsDir, "write the results as latest.md (a Markdown table) and latest.svg (a chart) into this directory (\"\": do not)")
	fs.StringVar(&o.profile, "profile", "", "the no-op server and tokengate write CPU and allocation profiles of the whole run into this directory as they stop (noop.cpu.pprof, tokengate.allocs.pprof, ...); tokengate only when built from ./bench/tgprof")
	fs.StringVar(&o.only, "only", "", "run only the gRPC (grpc) or HTTP-mode (http) throughput comparison, or both (throughput)")
	serverCPUs := fs.String("server-cpus", "", "pin tokengate and the no-op server to these CPUs, as taskset -c (e.g. 0)")
	clientCPUs := fs.String("client-cpus", "", "pin the load generator (clients, fake AS) to these CPUs (e.g. 1)")
	fs.BoolVar(&o.noopServer, noopFlag, false, "")
	fs.StringVar(&o.noopHeader, noopHeadersFlag, "", "")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: loadgen [flags]\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != noopFlag && f.Name != noopHeadersFlag {
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
	switch o.only {
	case "", "grpc", "http", "throughput":
	default:
		return o, fmt.Errorf("--only %q: want grpc, http or throughput", o.only)
	}
	var err error
	if o.serverCPUs, err = parseCPUList(*serverCPUs); err != nil {
		return o, fmt.Errorf("--server-cpus: %w", err)
	}
	if o.clientCPUs, err = parseCPUList(*clientCPUs); err != nil {
		return o, fmt.Errorf("--client-cpus: %w", err)
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
		err = serveNoop(ctx, o.noopHeader)
	} else {
		err = run(ctx, os.Stdout, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// profileEnv is env for tokengate and for the no-op server, each told to
// write its profiles into dir (profile.EnvVar); dir "" profiles neither.
func profileEnv(env []string, dir string) (tg, noop []string, err error) {
	if dir == "" {
		return env, env, nil
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, nil, fmt.Errorf("--profile: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("--profile: %w", err)
	}
	with := func(name string) []string {
		return append(append([]string(nil), env...), profile.EnvVar+"="+filepath.Join(dir, name))
	}
	return with("tokengate"), with("noop"), nil
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
		if len(o.serverCPUs) > 0 {
			gmp = "unset (Go default: the " + strconv.Itoa(len(o.serverCPUs)) + " CPUs they are pinned to)"
		}
	}
	fmt.Fprintf(out, "tokengate load generator: %s, %d CPUs, servers' GOMAXPROCS %s, fake AS delay %v, quick=%v, load average %s\n",
		runtime.Version(), runtime.NumCPU(), gmp, o.asDelay, o.quick, loadAverage())
	if len(o.clientCPUs) > 0 {
		if err := pinSelf(o.clientCPUs); err != nil {
			return fmt.Errorf("--client-cpus: %w", err)
		}
	}
	childCPUs = o.serverCPUs
	if len(o.serverCPUs) > 0 || len(o.clientCPUs) > 0 {
		fmt.Fprintf(out, "servers pinned to CPUs %v, load generator to CPUs %v (nil: not pinned)\n", o.serverCPUs, o.clientCPUs)
	}

	dir, err := os.MkdirTemp("", "tokengate-loadgen-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	tgEnv, noopEnv, err := profileEnv(env, o.profile)
	if err != nil {
		return err
	}
	as := startAS(o.asDelay)
	defer as.Close()
	tg, tgAddr, tgHTTPAddr, err := startTokengate(ctx, o.tokengate, dir, as.URL+asPath, tgEnv)
	if err != nil {
		return err
	}
	defer tg.stop()
	// The no-op HTTP server writes what tokengate's HTTP mode answers an
	// allow with (this first check also puts the token in the cache).
	allow, err := allowHeaders(ctx, tgHTTPAddr, goodToken)
	if err != nil {
		return err
	}
	noop, noopAddr, noopHTTPAddr, err := startNoop(ctx, noopEnv, allow)
	if err != nil {
		return err
	}
	defer noop.stop()
	if len(o.clientCPUs) > 0 { // again: threads started meanwhile may have missed the first pass
		if err := pinSelf(o.clientCPUs); err != nil {
			return fmt.Errorf("--client-cpus: %w", err)
		}
	}
	fmt.Fprintf(out, "tokengate pid %d on %s (HTTP %s); noop server pid %d on %s (HTTP %s); fake AS on %s\n",
		tg.pid(), tgAddr, tgHTTPAddr, noop.pid(), noopAddr, noopHTTPAddr, as.URL+asPath)
	fmt.Fprintf(out, "HTTP-mode allow headers (the no-op HTTP server writes the same): %s\n", headerNames(allow))
	if o.profile != "" {
		fmt.Fprintf(out, "profiles of the whole run, written as the servers stop: %s (go tool pprof -top FILE)\n",
			filepath.Join(o.profile, "{noop,tokengate}.{cpu,allocs}.pprof"))
	}

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
	tgHTTP, noopHTTP := newHTTPTarget(tgHTTPAddr, o.clients), newHTTPTarget(noopHTTPAddr, o.clients)
	defer tgHTTP.close()
	defer noopHTTP.close()
	https := []target{{name: targetNoop, pid: noop.pid(), http: noopHTTP}, {name: targetTokengate, pid: tg.pid(), http: tgHTTP}}
	if o.only != "" {
		return throughputOnly(ctx, out, o, tg, noop, tgPool, noopPool, https)
	}
	return scenarios(ctx, out, o, as, tg, noop, tgPool, noopPool, https)
}

// throughputOnly runs the throughput steps --only selects and prints
// their summary.
func throughputOnly(ctx context.Context, out io.Writer, o options, tg, noop *child, tgPool, noopPool *pool, https []target) error {
	var r results
	var err error
	plan := throughputPlan{rounds: o.rounds, clients: o.clients, warmup: o.warmup, duration: o.duration, together: o.together}
	if o.only != "http" {
		targets := []target{{name: targetNoop, pool: noopPool, pid: noop.pid()}, {name: targetTokengate, pool: tgPool, pid: tg.pid()}}
		if r.tp, err = runThroughput(ctx, out, targets, plan); err != nil {
			return err
		}
	}
	if o.only != "grpc" {
		plan.minRatio = minHTTPRatio
		if r.http, err = runThroughput(ctx, httpHeading(out), https, plan); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\n== Summary (--only %s)\n", o.only)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(out, "%-18s %s\n", name, fmt.Sprintf(format, args...))
	}
	if o.only != "http" {
		throughputRows(row, "gRPC", r.tp, minRatio)
	}
	if o.only != "grpc" {
		throughputRows(row, "HTTP mode", r.http, minHTTPRatio)
	}
	fmt.Fprintf(out, "(1-minute load average at the end: %s on %d CPUs; other processes on this machine skew every figure)\n",
		loadAverage(), runtime.NumCPU())
	return saveResults(out, o, r, nil)
}

// scenarios runs the five measurements in order and prints the summary.
func scenarios(ctx context.Context, out io.Writer, o options, as *introspectiontest.Server, tg, noop *child, tgPool, noopPool *pool, https []target) error {
	var r results
	var err error
	targets := []target{{name: targetNoop, pool: noopPool, pid: noop.pid()}, {name: targetTokengate, pool: tgPool, pid: tg.pid()}}
	tplan := throughputPlan{rounds: o.rounds, clients: o.clients, warmup: o.warmup, duration: o.duration, together: o.together}
	r.tp, err = runThroughput(ctx, out, targets, tplan)
	if err != nil {
		return err
	}
	tplan.minRatio = minHTTPRatio
	if r.http, err = runThroughput(ctx, httpHeading(out), https, tplan); err != nil {
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
	if n := as.Refused(); n > 0 {
		fmt.Fprintf(out, "warning: the fake authorization server rejected %d calls for bad client credentials\n", n)
	}
	printSummary(out, r)
	fmt.Fprintf(out, "(1-minute load average at the end: %s on %d CPUs; other processes on this machine skew every figure)\n",
		loadAverage(), runtime.NumCPU())
	missed := missedTargets(r)
	if missed == nil {
		missed = []string{}
	}
	return saveResults(out, o, r, missed)
}

// saveResults writes the results files into o.results (unless it is "")
// and says where; missed nil means the targets were not evaluated.
func saveResults(out io.Writer, o options, r results, missed []string) error {
	if o.results == "" {
		return nil
	}
	info := newRunInfo(o)
	info.evaluated, info.missed = missed != nil, missed
	paths, err := writeResults(o.results, resultRows(r), info)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "results written to %s\n", strings.Join(paths, " and "))
	return nil
}
