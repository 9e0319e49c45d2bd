package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Target names in the report.
const (
	targetNoop      = "noop"
	targetTokengate = "tokengate"
)

// goodToken is the cached, valid token of the throughput rounds; the flood
// scenario measures its latency again.
const goodToken = "good-bench-token"

// throughputPlan is how the throughput comparison runs.
type throughputPlan struct {
	rounds   int
	clients  int
	warmup   time.Duration
	duration time.Duration
	minRatio float64 // the target ratio printed; 0: minRatio
	// together loads every target at once in each round instead of one
	// after the other: on a busy machine both then see the same contention.
	together bool
}

func (p throughputPlan) target() float64 {
	if p.minRatio > 0 {
		return p.minRatio
	}
	return minRatio
}

// target is one server under test: its connections and its process.
// name is targetNoop or targetTokengate.
type target struct {
	name string
	pool *pool // gRPC targets
	pid  int
	// http, when set, is an HTTP-mode target, driven by its own closed
	// loop instead of pool's.
	http *httpTarget
}

// run is one closed-loop run against t.
func (t target) run(ctx context.Context, spec loopSpec) loadResult {
	if t.http != nil {
		return t.http.loop(ctx, spec)
	}
	return closedLoop(ctx, t.pool, spec)
}

// connections is what the heading says about t's connections.
func (t target) connections() string {
	if t.http != nil {
		return "one keep-alive connection per client"
	}
	return fmt.Sprintf("%d connections per target", len(t.pool.conns))
}

// roundResult is one measured round against one target.
type roundResult struct {
	round     int
	target    string
	res       loadResult
	serverCPU time.Duration // the server process's CPU time during the round
	clientCPU time.Duration // this process's CPU time during the round
}

// perCheck is d divided over the round's checks, 0 when there were none.
func (rr roundResult) perCheck(d time.Duration) time.Duration {
	n := rr.res.tally.total()
	if n == 0 || d < 0 {
		return 0
	}
	return d / time.Duration(n)
}

// throughputResult is every round and the figures derived from them.
type throughputResult struct {
	clients        int // closed-loop clients per round
	rounds         []roundResult
	noopRPS, tgRPS []float64
	ratios         []float64 // per round: tokengate RPS / noop RPS
	noopP99, tgP99 []time.Duration
	tgP50s         []time.Duration
	noopCPU, tgCPU []time.Duration // server CPU per check
	tgNonAllows    int64
	noopNonAllows  int64
	tgChecks       int64
	medianRatio    float64
	medianRatioOK  bool
	medianNoopRPS  float64
	medianTgRPS    float64
	medianNoopP99  time.Duration
	medianTgP99    time.Duration
	medianTgP50    time.Duration
	medianNoopCPU  time.Duration
	medianTgCPU    time.Duration
	// cpuRatio is medianNoopCPU / medianTgCPU: the throughput ratio a
	// server whose core is the bottleneck reaches, less skewed by other
	// load on the machine than the RPS ratio.
	cpuRatio   float64
	cpuRatioOK bool
}

// runThroughput alternates the targets round by round, each round after a
// warm-up against the same target (which also fills tokengate's cache),
// printing a table row per round.
func runThroughput(ctx context.Context, out io.Writer, targets []target, plan throughputPlan) (throughputResult, error) {
	r := throughputResult{clients: plan.clients}
	fmt.Fprintf(out, "\n== 1. Throughput, closed loop: %d clients, %s, %v warm-up + %v per round, token %s\n",
		plan.clients, targets[0].connections(), plan.warmup, plan.duration, goodToken)
	fmt.Fprintf(out, "(CPU/check: CPU time of the server process / of this load generator per check, from /proc)\n")
	fmt.Fprintf(out, "%-5s  %-9s  %8s  %7s  %9s  %9s  %9s  %10s  %10s  %s\n", "ROUND", "TARGET", "CHECKS", "RPS",
		"p50", "p99", "max", "SRV CPU/ck", "GEN CPU/ck", "ANSWERS")
	token := func(int) string { return goodToken }
	if plan.together {
		fmt.Fprintf(out, "(--together: both targets loaded at once in each round, each by %d clients: the same CPU contention for both)\n", plan.clients)
	}
	row := func(round int, t target, res loadResult, srv, gen time.Duration) {
		rr := roundResult{round: round, target: t.name, res: res, serverCPU: srv, clientCPU: gen}
		fmt.Fprintf(out, "%-5d  %-9s  %8d  %7.0f  %9s  %9s  %9s  %10s  %10s  %s\n", round, t.name, res.tally.total(),
			res.rps(), formatDuration(res.lat.percentile(50)), formatDuration(res.lat.percentile(99)),
			formatDuration(res.lat.max()), formatMicros(rr.perCheck(rr.serverCPU)),
			formatMicros(rr.perCheck(rr.clientCPU)), res.tally)
		r.add(rr)
	}
	for round := 1; round <= plan.rounds; round++ {
		if plan.together {
			runTogether(ctx, targets, loopSpec{clients: plan.clients, duration: plan.warmup, token: token})
			srv0, gen0 := make([]time.Duration, len(targets)), cpuOrNegative(os.Getpid())
			for i, t := range targets {
				srv0[i] = cpuOrNegative(t.pid)
			}
			res := runTogether(ctx, targets, loopSpec{clients: plan.clients, duration: plan.duration, token: token, record: true})
			gen := cpuDelta(gen0, cpuOrNegative(os.Getpid()))
			if err := ctx.Err(); err != nil {
				return r, fmt.Errorf("throughput round %d: %w", round, err)
			}
			for i, t := range targets {
				row(round, t, res[i], cpuDelta(srv0[i], cpuOrNegative(t.pid)), gen)
			}
			continue
		}
		for _, t := range targets {
			t.run(ctx, loopSpec{clients: plan.clients, duration: plan.warmup, token: token})
			srv0, gen0 := cpuOrNegative(t.pid), cpuOrNegative(os.Getpid())
			res := t.run(ctx, loopSpec{clients: plan.clients, duration: plan.duration, token: token, record: true})
			srv1, gen1 := cpuOrNegative(t.pid), cpuOrNegative(os.Getpid())
			if err := ctx.Err(); err != nil {
				return r, fmt.Errorf("throughput round %d: %w", round, err)
			}
			row(round, t, res, cpuDelta(srv0, srv1), cpuDelta(gen0, gen1))
		}
	}
	r.summarize()
	fmt.Fprintf(out, "per-round ratio tokengate/noop:")
	for _, x := range r.ratios {
		fmt.Fprintf(out, " %.2f", x)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "median RPS: noop %.0f, tokengate %.0f; median ratio tokengate/noop %s (target >= %.2f)\n",
		r.medianNoopRPS, r.medianTgRPS, ratioText(r.medianRatio, r.medianRatioOK), plan.target())
	fmt.Fprintf(out, "median p99: noop %s, tokengate %s; median server CPU per check: noop %s, tokengate %s (ratio noop/tokengate %s)\n",
		formatDuration(r.medianNoopP99), formatDuration(r.medianTgP99), formatMicros(r.medianNoopCPU),
		formatMicros(r.medianTgCPU), ratioText(r.cpuRatio, r.cpuRatioOK))
	fmt.Fprintf(out, "tokengate non-allow answers: %d of %d\n", r.tgNonAllows, r.tgChecks)
	return r, nil
}

// runTogether runs spec against every target at once and returns their
// results in order. (This process's CPU time then covers all of them:
// GEN CPU/check is per check of one target.)
func runTogether(ctx context.Context, targets []target, spec loopSpec) []loadResult {
	res := make([]loadResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = t.run(ctx, spec)
		}()
	}
	wg.Wait()
	return res
}

// add records one round.
func (r *throughputResult) add(rr roundResult) {
	r.rounds = append(r.rounds, rr)
	switch rr.target {
	case targetNoop:
		r.noopRPS = append(r.noopRPS, rr.res.rps())
		r.noopP99 = append(r.noopP99, rr.res.lat.percentile(99))
		r.noopCPU = append(r.noopCPU, rr.perCheck(rr.serverCPU))
		r.noopNonAllows += rr.res.tally.notAllowed()
	case targetTokengate:
		r.tgRPS = append(r.tgRPS, rr.res.rps())
		r.tgP99 = append(r.tgP99, rr.res.lat.percentile(99))
		r.tgP50s = append(r.tgP50s, rr.res.lat.percentile(50))
		r.tgCPU = append(r.tgCPU, rr.perCheck(rr.serverCPU))
		r.tgNonAllows += rr.res.tally.notAllowed()
		r.tgChecks += rr.res.tally.total()
	}
}

// summarize derives the medians and the per-round ratios.
func (r *throughputResult) summarize() {
	r.ratios = r.ratios[:0]
	for i := range min(len(r.noopRPS), len(r.tgRPS)) {
		if x, ok := ratio(r.tgRPS[i], r.noopRPS[i]); ok {
			r.ratios = append(r.ratios, x)
		}
	}
	r.medianRatioOK = len(r.ratios) > 0
	r.medianRatio = median(r.ratios)
	r.medianNoopRPS, r.medianTgRPS = median(r.noopRPS), median(r.tgRPS)
	r.medianNoopP99, r.medianTgP99 = medianDuration(r.noopP99), medianDuration(r.tgP99)
	r.medianTgP50 = medianDuration(r.tgP50s)
	r.medianNoopCPU, r.medianTgCPU = medianDuration(r.noopCPU), medianDuration(r.tgCPU)
	r.cpuRatio, r.cpuRatioOK = 0, false
	if r.medianNoopCPU > 0 && r.medianTgCPU > 0 {
		r.cpuRatio, r.cpuRatioOK = ratio(float64(r.medianNoopCPU), float64(r.medianTgCPU))
	}
}

// ratioText writes a ratio with two decimals, or "n/a".
func ratioText(x float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

// cpuOrNegative is a process's CPU time so far, or -1 when unknown.
func cpuOrNegative(pid int) time.Duration {
	d, err := readCPU(pid)
	if err != nil {
		return -1
	}
	return d
}

// cpuDelta is b-a, or -1 when either is unknown.
func cpuDelta(a, b time.Duration) time.Duration {
	if a < 0 || b < 0 {
		return -1
	}
	return b - a
}
