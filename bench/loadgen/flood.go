package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// floodPlan is how the flood scenario runs.
type floodPlan struct {
	tokens   int           // distinct inactive tokens to send
	clients  int           // flood goroutines
	bound    time.Duration // the flood stops sending after this long
	probes   int           // goroutines checking the cached good token meanwhile
	baseline time.Duration // probe measurement without flood, just before
}

// floodResult is what the flood scenario measured.
type floodResult struct {
	plan      floodPlan
	elapsed   time.Duration
	bounded   bool // the time bound stopped it before every token was sent
	tally     tally
	lat       latencies
	asCalls   int64
	asPeak    int64
	memBefore memory
	memAfter  memory
	baseline  loadResult // probes without flood
	during    loadResult // probes during the flood
}

// flood sends plan.tokens distinct never-seen tokens (each inactive) from
// plan.clients goroutines, at most plan.bound long, while plan.probes
// goroutines check the cached good token. It watches the authorization
// server's peak concurrency and tokengate's memory (pid).
func flood(ctx context.Context, out io.Writer, p *pool, as *introspectiontest.Server, pid int, plan floodPlan) (floodResult, error) {
	r := floodResult{plan: plan, tally: newTally()}
	fmt.Fprintf(out, "\n== 4. Flood: %d distinct inactive tokens from %d clients (bounded to %v); %d clients check the cached good token meanwhile\n",
		plan.tokens, plan.clients, plan.bound, plan.probes)
	good := func(int) string { return goodToken }
	r.baseline = closedLoop(ctx, p, loopSpec{clients: plan.probes, duration: plan.baseline, token: good, record: true})
	fmt.Fprintf(out, "without flood (%d clients, %v): %d checks, p50 %s, p99 %s; %s\n", plan.probes, plan.baseline,
		r.baseline.tally.total(), formatDuration(r.baseline.lat.percentile(50)),
		formatDuration(r.baseline.lat.percentile(99)), r.baseline.tally)

	tokens := make([]string, plan.tokens)
	for i := range tokens {
		tokens[i] = "flood-" + randomID()
	}
	var err error
	if r.memBefore, err = readMemory(pid); err != nil {
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	callsBefore := as.Total()
	as.ResetPeak()

	var stop atomic.Bool
	probeDone := make(chan loadResult, 1)
	go func() {
		probeDone <- closedLoop(ctx, p, loopSpec{clients: plan.probes, duration: plan.bound + callTimeout,
			token: good, record: true, stop: &stop})
	}()
	r.elapsed, r.bounded, r.tally, r.lat = sendFlood(ctx, p, tokens, plan.clients, plan.bound)
	stop.Store(true)
	r.during = <-probeDone
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("flood: %w", err)
	}
	r.asCalls, r.asPeak = as.Total()-callsBefore, as.PeakInFlight()
	if r.memAfter, err = readMemory(pid); err != nil {
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	r.print(out)
	return r, nil
}

// sendFlood is the flood proper: clients goroutines take the next token
// until none is left or bound has passed.
func sendFlood(ctx context.Context, p *pool, tokens []string, clients int, bound time.Duration) (time.Duration, bool, tally, latencies) {
	var next atomic.Int64
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	tallies := make([]tally, clients)
	start := time.Now()
	deadline := start.Add(bound)
	for i := range clients {
		tallies[i] = newTally()
		lats[i] = make([]time.Duration, 0, len(tokens)/clients+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, req := p.client(i), newRequest("", 10_000+i)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				idx := next.Add(1) - 1
				if idx >= int64(len(tokens)) {
					return
				}
				req.setToken(tokens[idx])
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				t0 := time.Now()
				resp, err := c.Check(cctx, req.next())
				lats[i] = append(lats[i], time.Since(t0))
				cancel()
				tallies[i].add(resp, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := newTally()
	for _, t := range tallies {
		all.merge(t)
	}
	return elapsed, all.total() < int64(len(tokens)), all, mergeLatencies(lats)
}

// print writes the flood figures.
func (r floodResult) print(out io.Writer) {
	sent := r.tally.total()
	how := "all sent"
	if r.bounded {
		how = "stopped by the time bound"
	}
	fmt.Fprintf(out, "flood: %d of %d checks in %.1fs (%s), %.0f/s; p50 %s, p99 %s, max %s\n", sent, r.plan.tokens,
		r.elapsed.Seconds(), how, float64(sent)/r.elapsed.Seconds(), formatDuration(r.lat.percentile(50)),
		formatDuration(r.lat.percentile(99)), formatDuration(r.lat.max()))
	fmt.Fprintf(out, "flood answers: 401=%d, 503=%d; %s\n", r.tally.denied[401], r.tally.denied[503], r.tally)
	fmt.Fprintf(out, "authorization server: %d calls, peak concurrent %d (limit %d)\n", r.asCalls, r.asPeak, maxConcurrentLimit)
	fmt.Fprintf(out, "tokengate memory: VmRSS %s -> %s, VmHWM %s -> %s\n", formatKiB(r.memBefore.rssKiB),
		formatKiB(r.memAfter.rssKiB), formatKiB(r.memBefore.hwmKiB), formatKiB(r.memAfter.hwmKiB))
	fmt.Fprintf(out, "cached good token during flood (%d clients): %d checks, p50 %s, p99 %s; %s\n", r.plan.probes,
		r.during.tally.total(), formatDuration(r.during.lat.percentile(50)),
		formatDuration(r.during.lat.percentile(99)), r.during.tally)
}
