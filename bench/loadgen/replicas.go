package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
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

// redisBinary finds redis-server on PATH or in /usr/bin and /usr/sbin.
func redisBinary() (string, bool) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// freePort is a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs redis-server on a free loopback port, without
// persistence, in dir; it returns once the server answers PING.
func startRedis(ctx context.Context, bin, dir string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "notice"}
	ready := func(line string) (string, bool) {
		if strings.Contains(line, "Ready to accept connections") {
			return addr, true
		}
		return "", false
	}
	c, _, err := startChild(ctx, "redis-server", bin, args, os.Environ(), false, ready, 10*time.Second)
	if err != nil {
		return nil, "", err
	}
	if err := redisPing(ctx, addr); err != nil {
		c.stop()
		return nil, "", fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	return c, addr, nil
}

// redisPing sends PING over plain RESP and expects +PONG.
func redisPing(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// redisCommands is the server's total_commands_processed (INFO stats), or
// -1 when it cannot be read.
func redisCommands(ctx context.Context, addr string) int64 {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return -1
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")); err != nil {
		return -1
	}
	br := bufio.NewReader(conn)
	head, err := br.ReadString('\n') // $<length>
	if err != nil || !strings.HasPrefix(head, "$") {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return -1
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return -1
	}
	return parseRedisInfo(string(body), "total_commands_processed")
}

// parseRedisInfo is the integer field key of an INFO reply, or -1.
func parseRedisInfo(info, key string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// tokengateRedisConfig is the benchmark configuration plus a redis section.
func tokengateRedisConfig(asURL, redisAddr string) string {
	return tokengateConfig(asURL) + fmt.Sprintf("redis:\n  address: %q\n  timeout: %s\n", redisAddr, redisTimeout)
}

// validateConfig runs `tokengate validate --config path` and returns its
// messages as the error when the configuration is refused.
func validateConfig(ctx context.Context, bin, path string) error {
	out, err := exec.CommandContext(ctx, bin, "validate", "--config", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tokengate validate --config %s: %v:\n%s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// replica is one tokengate subprocess with its connections.
type replica struct {
	proc *child
	pool *pool
}

// close closes the connections and stops the process; it is safe to call
// more than once.
func (r *replica) close() {
	if r.pool != nil {
		r.pool.close()
		r.pool = nil
	}
	if r.proc != nil {
		r.proc.stop()
		r.proc = nil
	}
}

// startReplica writes config as name.yaml into dir, validates it, and
// serves it from a new tokengate subprocess.
func startReplica(ctx context.Context, o options, dir, name, config string, env []string) (*replica, error) {
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("write %s config: %w", name, err)
	}
	if err := validateConfig(ctx, o.tokengate, path); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", path, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"}
	proc, addr, err := startChild(ctx, name, o.tokengate, args, env, true, servingAddress, 15*time.Second)
	if err != nil {
		return nil, err
	}
	p, err := dialPool(addr, o.conns)
	if err != nil {
		proc.stop()
		return nil, err
	}
	return &replica{proc: proc, pool: p}, nil
}

// serverEnv is the environment of the server subprocesses.
func serverEnv(o options) []string {
	env := os.Environ()
	if o.gomaxprocs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.gomaxprocs))
	}
	return env
}

// twoReplicas is scenario 5. Without redis-server it prints why it is
// skipped and returns a result that says so.
func twoReplicas(ctx context.Context, out io.Writer, o options, as *introspectiontest.Server, noop *child, noopPool *pool) (replicaResult, error) {
	var r replicaResult
	fmt.Fprintf(out, "\n== 5. Two replicas sharing a Redis second-level cache\n")
	bin, ok := redisBinary()
	if !ok {
		r.skipped = "redis-server not installed (Debian: apt-get install redis-server)"
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
	plainCfg := tokengateConfig(as.URL + asPath)
	a0, err := startReplica(ctx, o, dir, "tokengate-plain-a", plainCfg, env)
	if err != nil {
		return r, err
	}
	defer a0.close()
	b0, err := startReplica(ctx, o, dir, "tokengate-plain-b", plainCfg, env)
	if err != nil {
		return r, err
	}
	defer b0.close()

	redisCfg := tokengateRedisConfig(as.URL+asPath, addr)
	a, err := startReplica(ctx, o, dir, "tokengate-redis-a", redisCfg, env)
	if err != nil {
		return r, err
	}
	defer a.close()
	b, err := startReplica(ctx, o, dir, "tokengate-redis-b", redisCfg, env)
	if err != nil {
		return r, err
	}
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
	for _, t := range tallies {
		r.tally.merge(t)
	}
	for i := range n {
		r.asCalls += int64(as.Calls(prefix + strconv.Itoa(i)))
	}
	return r, nil
}

// headingWriter passes writes through to w, replacing old by new in them
// (fmt.Fprintf writes a line in one call, so a heading is never split).
type headingWriter struct {
	w        io.Writer
	old, new string
}

// Write implements io.Writer.
func (h *headingWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(h.old)) {
		if _, err := h.w.Write(bytes.ReplaceAll(p, []byte(h.old), []byte(h.new))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return h.w.Write(p)
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
