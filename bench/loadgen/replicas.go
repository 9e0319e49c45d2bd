package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// Scenario 5: two tokengate replicas sharing a Redis second-level cache.

// replicaTokens is how many distinct tokens the AS-calls-per-token
// measurement checks on each pair of replicas, with replicaConcurrency
// tokens in flight at a time.
const (
	replicaTokens      = 200
	replicaConcurrency = 16
	redisTimeout       = 50 * time.Millisecond
	// maxCallsPerTokenWithRedis is the target of the AS calls per distinct
	// token checked once on each of two replicas sharing Redis (ideal 1.0).
	maxCallsPerTokenWithRedis = 1.05
)

// replicaResult is what the two-replica scenario measured.
type replicaResult struct {
	ran        bool
	skipped    string // why it did not run ("" when it ran)
	withRedis  perTokenResult
	noRedis    perTokenResult
	tp         throughputResult // closed loop against replica A with Redis
	redisCmds  int64            // Redis commands during tp, -1 when unknown
	redisAddr  string
	replicaPID [2]int
}

// perTokenResult is one AS-calls-per-distinct-token measurement.
type perTokenResult struct {
	tokens  int
	asCalls int64
	tally   tally // the 2*tokens checks (one on each replica per token)
}

// perToken is the mean number of authorization server calls per token.
func (p perTokenResult) perToken() float64 {
	if p.tokens == 0 {
		return 0
	}
	return float64(p.asCalls) / float64(p.tokens)
}

// twoReplicas is scenario 5. Without redis-server it prints why it is
// skipped and returns a result that says so.
func twoReplicas(ctx context.Context, out io.Writer, o options, as *introspectiontest.Server, noop *child, noopPool *pool) (replicaResult, error) {
	var r replicaResult
	fmt.Fprintf(out, "\n== 5. Two replicas sharing a Redis second-level cache\n")
	bin, err := redisserver.Binary()
	if err != nil {
		r.skipped = err.Error()
		fmt.Fprintf(out, "SKIPPED: %s\n", r.skipped)
		return r, nil
	}
	dir, err := os.MkdirTemp("", "tokengate-loadgen-replicas-")
	if err != nil {
		return r, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	redisDir := filepath.Join(dir, "redis")
	if err := os.Mkdir(redisDir, 0o700); err != nil {
		return r, err
	}
	rs, addr, err := startRedis(ctx, bin, redisDir)
	if err != nil {
		return r, err
	}
	defer rs.stop()
	r.redisAddr = addr
	env := serverEnv(o)

	// Two replicas without Redis first: the comparison figure.
	a0, b0, err := startPair(ctx, o, dir, "tokengate-plain", tokengateConfig(as.URL+asPath), env)
	if err != nil {
		return r, err
	}
	defer a0.close()
	defer b0.close()
	a, b, err := startPair(ctx, o, dir, "tokengate-redis", tokengateRedisConfig(as.URL+asPath, addr), env)
	if err != nil {
		return r, err
	}
	defer a.close()
	defer b.close()
	r.replicaPID = [2]int{a.proc.pid(), b.proc.pid()}
	fmt.Fprintf(out, "redis-server pid %d on %s (timeout %v); replicas with Redis: pids %d and %d; without: pids %d and %d\n",
		rs.pid(), addr, redisTimeout, a.proc.pid(), b.proc.pid(), a0.proc.pid(), b0.proc.pid())
	aPID := a.proc.pid()

	fmt.Fprintf(out, "-- 5a. AS calls per distinct token: %d new tokens, each checked on replica A then on replica B, %d tokens at a time\n",
		replicaTokens, replicaConcurrency)
	if r.noRedis, err = callsPerToken(ctx, as, a0.pool, b0.pool, "good-plain-"+randomID()+"-", replicaTokens, replicaConcurrency); err != nil {
		return r, err
	}
	// The plain pair is no longer needed: free its CPU for what follows.
	b0.close()
	a0.close()
	if r.withRedis, err = callsPerToken(ctx, as, a.pool, b.pool, "good-redis-"+randomID()+"-", replicaTokens, replicaConcurrency); err != nil {
		return r, err
	}
	for _, x := range []struct {
		name string
		p    perTokenResult
		want string
	}{{"without Redis", r.noRedis, "≈ 2.0"}, {"with Redis   ", r.withRedis, "target ≈ 1.0"}} {
		fmt.Fprintf(out, "%s: %.2f AS calls/token (%d calls for %d tokens; %s); answers: %s\n",
			x.name, x.p.perToken(), x.p.asCalls, x.p.tokens, x.want, x.p.tally)
	}

	// 5b: the closed-loop throughput of step 1 against replica A with
	// Redis. runThroughput prints step 1's heading; it is renamed on the way.
	hw := &headingWriter{w: out, old: "== 1. Throughput, closed loop:",
		new: "-- 5b. Cached-check throughput with the L2 enabled (replica A, noop alternated), closed loop:"}
	targets := []target{{name: targetNoop, pool: noopPool, pid: noop.pid()}, {name: targetTokengate, pool: a.pool, pid: aPID}}
	cmds0 := redisCommands(ctx, addr)
	r.tp, err = runThroughput(ctx, hw, targets,
		throughputPlan{rounds: o.rounds, clients: o.clients, warmup: o.warmup, duration: o.duration})
	if err != nil {
		return r, fmt.Errorf("two replicas: %w", err)
	}
	if cmds1 := redisCommands(ctx, addr); cmds0 >= 0 && cmds1 >= 0 {
		// the second INFO counts itself; the first one was counted before cmds0
		r.redisCmds = cmds1 - cmds0 - 1
		fmt.Fprintf(out, "Redis commands during 5b, warm-ups included (only replica A's first miss of the token should need any): %d\n",
			r.redisCmds)
	} else {
		r.redisCmds = -1
	}
	r.ran = true
	return r, nil
}

// callsPerToken checks n distinct good tokens (prefix + index), each once
// on replica a and then once on replica b, with concurrency tokens in
// flight, and counts the authorization server's calls for them.
func callsPerToken(ctx context.Context, as *introspectiontest.Server, a, b *pool, prefix string, n, concurrency int) (perTokenResult, error) {
	r := perTokenResult{tokens: n, tally: newTally()}
	next := make(chan int)
	tallies := make([]tally, concurrency)
	var wg sync.WaitGroup
	for w := range concurrency {
		tallies[w] = newTally()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ra, rb := newRequest("", w), newRequest("", w)
			for i := range next {
				token := prefix + strconv.Itoa(i)
				for _, s := range []struct {
					p   *pool
					req *request
				}{{a, ra}, {b, rb}} {
					s.req.setToken(token)
					cctx, cancel := context.WithTimeout(ctx, callTimeout)
					resp, err := s.p.client(i).Check(cctx, s.req.next())
					cancel()
					tallies[w].add(resp, err)
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("AS calls per token: %w", err)
	}
	r.tally = mergeTallies(tallies)
	for i := range n {
		r.asCalls += int64(as.Calls(prefix + strconv.Itoa(i)))
	}
	return r, nil
}

// replicaMissed lists the two-replica targets r missed (none when it did
// not run).
func replicaMissed(r replicaResult) []string {
	if !r.ran {
		return nil
	}
	var missed []string
	if x := r.withRedis.perToken(); x > maxCallsPerTokenWithRedis {
		missed = append(missed, fmt.Sprintf("two replicas with Redis: %.2f AS calls per distinct token > %.2f",
			x, maxCallsPerTokenWithRedis))
	}
	if n := r.withRedis.tally.notAllowed(); n != 0 {
		missed = append(missed, fmt.Sprintf("two replicas with Redis: %d of %d checks of good tokens were not allows (want 0)",
			n, r.withRedis.tally.total()))
	}
	switch {
	case !r.tp.medianRatioOK:
		missed = append(missed, "throughput ratio with the L2 could not be computed (no noop checks)")
	case r.tp.medianRatio < minRatio:
		missed = append(missed, fmt.Sprintf("throughput ratio tokengate/noop with the L2 %.3f < %.2f", r.tp.medianRatio, minRatio))
	}
	if r.tp.tgNonAllows != 0 {
		missed = append(missed, fmt.Sprintf("%d of %d throughput answers of replica A with the L2 were not allows (want 0)",
			r.tp.tgNonAllows, r.tp.tgChecks))
	}
	return missed
}

// printReplicaSummary writes the two-replica rows of the summary.
func printReplicaSummary(row func(name, format string, args ...any), r replicaResult) {
	if !r.ran {
		why := r.skipped
		if why == "" {
			why = "did not run"
		}
		row("2 replicas+Redis", "skipped: %s", why)
		return
	}
	row("2 replicas+Redis", "%.2f AS calls per distinct token (target ≈ 1.0); without Redis %.2f (≈ 2.0); %d tokens each",
		r.withRedis.perToken(), r.noRedis.perToken(), r.withRedis.tokens)
	cmds := "n/a"
	if r.redisCmds >= 0 {
		cmds = strconv.FormatInt(r.redisCmds, 10)
	}
	row("throughput w/ L2", "median ratio tokengate/noop %s (target >= %.2f); median p99 noop %s, tokengate %s; %s Redis commands",
		ratioText(r.tp.medianRatio, r.tp.medianRatioOK), minRatio,
		formatDuration(r.tp.medianNoopP99), formatDuration(r.tp.medianTgP99), cmds)
}
