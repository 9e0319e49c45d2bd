package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// randomID is 16 random hex digits, to make tokens of this run unique.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// burstResult is what the cold burst measured.
type burstResult struct {
	token   string
	checks  int
	asCalls int64
	tally   tally
	lat     latencies
}

// coldBurst releases n checks with one never-seen good token at the same
// instant (all goroutines wait on one start barrier) and counts how often
// the authorization server was asked about it.
func coldBurst(ctx context.Context, out io.Writer, p *pool, as *introspectiontest.Server, n int) (burstResult, error) {
	r := burstResult{token: "good-cold-" + randomID(), checks: n, tally: newTally()}
	fmt.Fprintf(out, "\n== 2. Cold burst: %d concurrent checks released at once with one new token\n", n)
	lats := make([]time.Duration, n)
	tallies := make([]tally, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		tallies[i] = newTally()
		go func() {
			defer done.Done()
			c, req := p.client(i), newRequest(r.token, i)
			msg := req.next()
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			ready.Done()
			<-start
			t0 := time.Now()
			resp, err := c.Check(cctx, msg)
			lats[i] = time.Since(t0)
			tallies[i].add(resp, err)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("cold burst: %w", err)
	}
	r.tally = mergeTallies(tallies)
	r.lat = mergeLatencies([][]time.Duration{lats})
	r.asCalls = int64(as.Calls(r.token))
	fmt.Fprintf(out, "authorization server calls for the token: %d (target 1)\n", r.asCalls)
	fmt.Fprintf(out, "allowed: %d of %d; answers: %s\n", r.tally.allowed, n, r.tally)
	fmt.Fprintf(out, "latency p50 %s, p99 %s, max %s\n", formatDuration(r.lat.percentile(50)),
		formatDuration(r.lat.percentile(99)), formatDuration(r.lat.max()))
	return r, nil
}

// inactiveResult is what the repeated-inactive-token scenario measured.
type inactiveResult struct {
	token    string
	duration time.Duration
	asCalls  int64
	bound    int
	res      loadResult
	inactive int64 // 401 answers with reason "inactive"
}

// repeatInactive hammers one inactive token from clients goroutines for d
// and compares the authorization server calls with what negative caching
// allows: one per negative_ttl, plus one.
func repeatInactive(ctx context.Context, out io.Writer, p *pool, as *introspectiontest.Server, clients int, d time.Duration) (inactiveResult, error) {
	r := inactiveResult{token: "inactive-repeat-" + randomID(), duration: d, bound: ceilDiv(d, negativeTTL) + 1}
	fmt.Fprintf(out, "\n== 3. Repeated inactive token: %d clients for %v (negative_ttl %v)\n", clients, d, negativeTTL)
	r.res = closedLoop(ctx, p, loopSpec{clients: clients, duration: d, token: func(int) string { return r.token }, record: true})
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("inactive token: %w", err)
	}
	r.asCalls = int64(as.Calls(r.token))
	r.inactive = min(r.res.tally.denied[401], r.res.tally.reasons["inactive"])
	fmt.Fprintf(out, "checks: %d (%.0f/s), p50 %s, p99 %s\n", r.res.tally.total(), r.res.rps(),
		formatDuration(r.res.lat.percentile(50)), formatDuration(r.res.lat.percentile(99)))
	fmt.Fprintf(out, "authorization server calls for the token: %d (expected <= %d = ceil(%v / %v) + 1)\n",
		r.asCalls, r.bound, d, negativeTTL)
	fmt.Fprintf(out, "401 inactive denies: %d of %d; answers: %s\n", r.inactive, r.res.tally.total(), r.res.tally)
	return r, nil
}
