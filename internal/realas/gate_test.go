package realas

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
	"github.com/tokengate/tokengate/internal/app"
	"github.com/tokengate/tokengate/internal/testlog"
	"github.com/tokengate/tokengate/testsupport"
)

// gate is tokengate running in-process with a gRPC client and its logs.
type gate struct {
	client authv3.AuthorizationClient
	logs   *testlog.Buffer
	http   string // its HTTP listener (HTTP-mode checks under /authz)
}

// startGate writes config to a temporary file and starts tokengate on it.
func startGate(t *testing.T, config string) *gate {
	t.Helper()
	g, err := tryStartGate(t, config)
	if err != nil {
		t.Fatalf("tokengate did not start: %v", err)
	}
	return g
}

func tryStartGate(t *testing.T, config string) (*gate, error) {
	t.Helper()
	path := testsupport.WriteConfig(t, config)
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := app.Start(ctx, app.Options{ConfigPath: path, Logger: logger, Version: "realas-test"})
	if err != nil {
		return nil, err
	}
	testsupport.ShutdownOnCleanup(t, srv.Shutdown)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokengate logs:\n%s", logs)
		}
	})
	return &gate{client: testsupport.AuthorizationClient(t, srv.GRPCAddress()), logs: logs, http: srv.HTTPAddress()}, nil
}

// result is a CheckResponse in HTTP terms.
type result struct {
	allow     bool
	status    int
	reason    string // the status message: the decision's reason word
	challenge string // WWW-Authenticate
	set       map[string]string
	remove    []string
}

func (r result) String() string {
	b, _ := json.Marshal(map[string]any{"allow": r.allow, "status": r.status, "reason": r.reason, "challenge": r.challenge, "set": r.set, "remove": r.remove})
	return string(b)
}

// check asks tokengate about GET (or method) https://host/path with token
// as the bearer token.
func (g *gate) check(t *testing.T, method, host, path, token string) result {
	t.Helper()
	headers := map[string]string{}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	return g.checkRequest(t, grpcauthztest.Request{Method: method, Host: host, Path: path, Headers: headers}.Proto())
}

// checkRequest sends req to tokengate over gRPC.
func (g *gate) checkRequest(t *testing.T, req *authv3.CheckRequest) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := g.client.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check returned a gRPC error (denies must be responses): %v", err)
	}
	a := grpcauthztest.ParseAnswer(t, resp)
	return result{allow: a.Allow, status: a.Status, reason: a.Reason, challenge: a.Challenge, set: a.Set, remove: a.Remove}
}

// expect fails the test unless r has this status and reason.
func expect(t *testing.T, what string, r result, status int, reason string) {
	t.Helper()
	if r.status != status || r.reason != reason {
		t.Fatalf("%s: got %d %q, want %d %q (%s)", what, r.status, r.reason, status, reason, r)
	}
}

// expectRevokedAfterCache checks a token revoked at the provider right
// after its first check: still allowed from the cache (cache.max_ttl 2s in
// these tests), then denied inactive once the cached claims end, within 5s.
func expectRevokedAfterCache(t *testing.T, g *gate, p *provider, host, token string) {
	t.Helper()
	cached := time.Now()
	expect(t, "before revocation", g.check(t, "GET", host, "/orders", token), 200, "allowed")
	p.revoke(t, token)
	if r := g.check(t, "GET", host, "/orders", token); !r.allow && time.Since(cached) < time.Second {
		t.Fatalf("denied %s after caching, well within max_ttl 2s: the cache was not used (%s)", time.Since(cached), r)
	}
	deadline := cached.Add(5 * time.Second)
	for {
		r := g.check(t, "GET", host, "/orders", token)
		if !r.allow {
			expect(t, "after revocation", r, 401, "inactive")
			t.Logf("denied %s after caching", time.Since(cached).Round(10*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked token was still allowed %s after it was cached (cache.max_ttl is 2s)", time.Since(cached))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logLines returns the JSON log lines whose msg is msg.
func (g *gate) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(g.logs.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// yamlString quotes s for YAML: a JSON string is a YAML double-quoted one.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
