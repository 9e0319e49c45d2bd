package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// A Redis Cluster with replicas (redis.addresses), as users run Redis in
// production (peers: harness_redis_test.go).

// sharing is what a round of distinct tokens across replicas saw.
type sharing struct {
	tokens, checks, notAllowed int
	asCalls                    int
}

func (s sharing) perToken() float64 { return float64(s.asCalls) / float64(max(s.tokens, 1)) }

func (s sharing) String() string {
	return fmt.Sprintf("%.2f AS calls per token (%d calls for %d tokens), %d of %d checks not allowed",
		s.perToken(), s.asCalls, s.tokens, s.notAllowed, s.checks)
}

// shareRound checks n new tokens (prefix + index): token i first on
// replica i%len(reps), then, once every token had its first check, on
// each other replica; it counts the authorization server's calls for
// them. A deny or a gRPC error is counted, never fatal.
func shareRound(t *testing.T, reps []*proc, as *introspectiontest.Server, prefix string, n int) sharing {
	t.Helper()
	s := sharing{tokens: n}
	check := func(p *proc, tok string) {
		s.checks++
		resp, err := p.checkRaw(p.grpcConn(t), req{auth: bearer(tok)})
		if err != nil || resp.GetOkResponse() == nil {
			s.notAllowed++
		}
	}
	for i := range n {
		check(reps[i%len(reps)], prefix+strconv.Itoa(i))
	}
	for k := 1; k < len(reps); k++ {
		for i := range n {
			check(reps[(i+k)%len(reps)], prefix+strconv.Itoa(i))
		}
	}
	for i := range n {
		s.asCalls += as.Calls(prefix + strconv.Itoa(i))
	}
	return s
}

// failoverLog is what the checks across a failover saw.
type failoverLog struct {
	checks, denies, grpcErrors int
	firstProblem               string
	slowest                    time.Duration
}

// TestRedisClusterSharingAndFailover: three tokengate replicas share a
// Redis Cluster of three masters with a replica each, configured with
// redis.addresses. Distinct tokens checked across the replicas cost about
// one introspection each; a master killed while checks run is failed over
// to its replica without a single deny (Redis trouble is a miss, never a
// deny); and new tokens are shared again after the failover.
func TestRedisClusterSharingAndFailover(t *testing.T) {
	t.Parallel()
	cluster := redisserver.StartCluster(t, redisserver.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	as := newAS(t)
	answerEveryToken(t, as)
	redisYAML := fmt.Sprintf("  addresses: [%s]\n  key_prefix: \"e2e:\"\n  timeout: 200ms\n", quoteList(cluster.Addrs()))
	reps := []*proc{
		startRedisReplica(t, as.URL, redisYAML), startRedisReplica(t, as.URL, redisYAML), startRedisReplica(t, as.URL, redisYAML),
	}

	// 1. Sharing through the cluster.
	const n = 60
	before := shareRound(t, reps, as, "cluster-a-", n)
	t.Logf("3 replicas, Redis Cluster (3 masters + 3 replicas), %d distinct tokens: %s", n, before)
	if before.notAllowed != 0 || before.perToken() > 1.05 {
		t.Fatalf("sharing through the cluster: %s; want every check allowed and <= 1.05 AS calls per token", before)
	}
	if hits := reps[1].metric(t, "tokengate_shared_cache_lookups_total", map[string]string{"result": "hit"}); hits < 1 {
		t.Errorf("replica 2 counted %v shared-cache hits, want > 0", hits)
	}

	// 2. A master dies during checks; its replica takes over.
	victim := cluster.Masters()[0]
	promoted := cluster.ReplicaOf(victim)
	if promoted == nil {
		t.Fatalf("master %s has no replica", victim.Addr())
	}
	healthy := make(chan time.Duration, 1)
	var killedAt time.Time
	var fl failoverLog
	marks := []int{reps[0].mark(), reps[1].mark(), reps[2].mark()}
	const maxChecks = 20_000
	bound := time.Now().Add(45 * time.Second)
	var healthyAfter time.Duration
	var endAt time.Time
	for i := 0; i < maxChecks; i++ {
		now := time.Now()
		if now.After(bound) {
			t.Fatalf("the cluster did not fail over within the test's bound (%d checks so far)", fl.checks)
		}
		if killedAt.IsZero() && i == 100 {
			killedAt = time.Now()
			cluster.Kill(victim)
			go func() {
				if err := cluster.WaitHealthy(30 * time.Second); err != nil {
					healthy <- -1
					return
				}
				healthy <- time.Since(killedAt)
			}()
		}
		select {
		case d := <-healthy:
			if d < 0 {
				t.Fatalf("no failover: %v", cluster.WaitHealthy(0))
			}
			healthyAfter, endAt = d, time.Now().Add(time.Second) // go on a second after the failover
		default:
		}
		if !endAt.IsZero() && now.After(endAt) {
			break
		}
		// A new token (a Redis lookup, then the authorization server) and
		// one from step 1 (local cache) on each replica in turn.
		p := reps[i%len(reps)]
		for _, tok := range []string{"cluster-b-" + strconv.Itoa(i), "cluster-a-" + strconv.Itoa(i%n)} {
			t0 := time.Now()
			resp, err := p.checkRaw(p.grpcConn(t), req{auth: bearer(tok)})
			fl.slowest = max(fl.slowest, time.Since(t0))
			fl.checks++
			switch {
			case err != nil:
				fl.grpcErrors++
			case resp.GetOkResponse() == nil:
				fl.denies++
			default:
				continue
			}
			if fl.firstProblem == "" {
				fl.firstProblem = fmt.Sprintf("check %d (%s, %v after the kill): %v %v", fl.checks, tok, time.Since(killedAt), err, resp.GetStatus())
			}
		}
	}
	if healthyAfter == 0 {
		t.Fatalf("the test stopped after %d checks before the failover completed", fl.checks)
	}
	role, _, err := redisserver.Role(promoted)
	t.Logf("killed master %s; its replica %s is %s (%v); cluster healthy %v after the kill; %d checks: %d denies, %d gRPC errors, slowest %v",
		victim.Addr(), promoted.Addr(), role, err, healthyAfter.Round(time.Millisecond), fl.checks, fl.denies, fl.grpcErrors, fl.slowest.Round(time.Millisecond))
	if fl.denies != 0 || fl.grpcErrors != 0 {
		t.Errorf("the failover caused %d denies and %d gRPC errors in %d checks of valid tokens (want 0: a Redis failure is a miss); first: %s",
			fl.denies, fl.grpcErrors, fl.checks, fl.firstProblem)
	}
	for i, p := range reps {
		skipped := len(p.findLogs(marks[i], msgIs("shared cache: Redis failing, skipped for a while")))
		t.Logf("replica %d: %d \"Redis failing\" log lines during the failover; shared-cache lookups error=%v skipped=%v", i+1, skipped,
			p.metric(t, "tokengate_shared_cache_lookups_total", map[string]string{"result": "error"}),
			p.metric(t, "tokengate_shared_cache_lookups_total", map[string]string{"result": "skipped"}))
	}

	// 3. Sharing resumes: rounds of new tokens until one is shared again.
	healthyAt := killedAt.Add(healthyAfter)
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; ; round++ {
		s := shareRound(t, reps, as, "cluster-c"+strconv.Itoa(round)+"-", 30)
		since := time.Since(healthyAt).Round(100 * time.Millisecond)
		t.Logf("after the failover (+%v), round %d: %s", since, round, s)
		if s.notAllowed != 0 {
			t.Fatalf("after the failover: %s; want every check allowed", s)
		}
		if s.perToken() <= 1.05 {
			break
		}
		if time.Now().After(deadline) {
			// go-redis reloads a ClusterClient's slot map on MOVED, or
			// when it is older than ClusterStateReloadInterval (60 s by
			// default): a dead master's slots stay on it until then.
			t.Fatalf("sharing did not resume within %v of the failover: last round %s (want <= 1.05 AS calls per token; "+
				"is the Redis Cluster client's slot map reloaded after a failover?)", since, s)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range reps {
		if out := p.stderr.String(); strings.Contains(out, "cluster-a-1") {
			t.Errorf("a replica logged a token")
		}
	}
}
