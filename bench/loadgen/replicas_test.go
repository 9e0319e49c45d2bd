package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

func TestRedisConfig(t *testing.T) {
	c := tokengateRedisConfig("http://127.0.0.1:1/oauth2/introspect", "127.0.0.1:6390")
	for _, want := range []string{"\nredis:\n  address: \"127.0.0.1:6390\"\n  timeout: 50ms\n", "max_entries: 5000"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	// The generated file must pass `tokengate validate` of the tokengate
	// this checkout builds (not a bin/tokengate that may be stale).
	bin := buildTokengate(t)
	path := testsupport.WriteConfig(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := validateConfig(ctx, bin, path); err != nil {
		t.Error(err)
	}
}

// buildTokengate builds ./cmd/tokengate of this checkout into a temporary
// directory and returns the binary's path, so that no test depends on a
// `make build` having run (or on when it ran).
func buildTokengate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokengate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// As `make build` builds it (static, -trimpath).
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/tokengate")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build -trimpath ./cmd/tokengate: %v\n%s", err, out)
	}
	return bin
}

func TestParseRedisInfo(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:42\r\n"
	if n := parseRedisInfo(info, "total_commands_processed"); n != 42 {
		t.Errorf("total_commands_processed = %d, want 42", n)
	}
	if n := parseRedisInfo(info, "missing"); n != -1 {
		t.Errorf("missing field = %d, want -1", n)
	}
}

func TestHeadingWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &headingWriter{w: &buf, old: "== 1. Throughput", new: "-- 5b. Throughput"}
	if n, err := w.Write([]byte("\n== 1. Throughput, closed loop\n")); err != nil || n != 31 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	_, _ = w.Write([]byte("row\n"))
	if got, want := buf.String(), "\n-- 5b. Throughput, closed loop\nrow\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReplicaTargets(t *testing.T) {
	var r results
	r.tp = throughputResult{medianRatio: 0.95, medianRatioOK: true}
	r.burst = burstResult{asCalls: 1}
	r.replicas.skipped = "redis-server not installed"
	if m := missedTargets(r); len(m) != 0 {
		t.Fatalf("skipped scenario missed targets: %v", m)
	}
	var buf bytes.Buffer
	printSummary(&buf, r)
	if !strings.Contains(buf.String(), "skipped: redis-server not installed") {
		t.Errorf("summary does not say the scenario was skipped:\n%s", buf.String())
	}

	good := replicaResult{ran: true, redisCmds: 9,
		withRedis: perTokenResult{tokens: 200, asCalls: 201, tally: tally{allowed: 400}},
		noRedis:   perTokenResult{tokens: 200, asCalls: 400, tally: tally{allowed: 400}},
		tp:        throughputResult{medianRatio: 0.97, medianRatioOK: true}}
	if m := replicaMissed(good); len(m) != 0 {
		t.Fatalf("good two-replica results missed: %v", m)
	}
	bad := good
	bad.withRedis = perTokenResult{tokens: 200, asCalls: 400, tally: tally{allowed: 399, rpcErrors: 1}}
	bad.tp.medianRatio, bad.tp.tgNonAllows = 0.5, 3
	if m := replicaMissed(bad); len(m) != 4 {
		t.Errorf("bad two-replica results: %d missed, want 4: %v", len(m), m)
	}
	r.replicas = good
	buf.Reset()
	printSummary(&buf, r)
	for _, want := range []string{"1.00 AS calls per distinct token", "without Redis 2.00", "median ratio tokengate/noop 0.97", "9 Redis commands"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}
