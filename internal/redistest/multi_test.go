// Package redistest_test runs several tokengate instances (in process)
// against one real Redis (testpeers/redisserver).
package redistest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/internal/app"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// active makes token an active access token of sub at as.
func active(as *introspectiontest.Server, token, sub string) {
	as.Claims(token, map[string]any{
		"active": true, "sub": sub, "scope": "orders.read", "token_type": "Bearer",
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
}

const adminToken = "adm1n-t0ken-0123456789abcdefghijklmn" // admin.token: at least 32 characters

func config(asURL, redisAddr string) string {
	return fmt.Sprintf(`
grpc:
  address: "127.0.0.1:0"
http:
  address: "127.0.0.1:0"
tenants:
  - name: acme
    introspection:
      url: "%s/introspect"
      client_id: rs-acme
      client_secret: s3cret
      timeout: 2s
    cache:
      max_ttl: 5m
      negative_ttl: 10s
routes:
  - name: all
    tenant: acme
    scopes: ["orders.read"]
redis:
  address: "%s"
  key_prefix: "tgtest:"
  timeout: 50ms
admin:
  address: "127.0.0.1:0"
  token: "%s"
`, asURL, redisAddr, adminToken)
}

type instance struct {
	srv  *app.Server
	logs *testlog.Buffer
}

// startInstance runs one tokengate of cfg in process.
func startInstance(t *testing.T, cfg string) *instance {
	t.Helper()
	logger, logs := testlog.JSON(slog.LevelInfo)
	srv, err := app.Start(context.Background(), app.Options{ConfigPath: testsupport.WriteConfig(t, cfg), Logger: logger, Version: "test"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	testsupport.ShutdownOnCleanup(t, srv.Shutdown)
	return &instance{srv: srv, logs: logs}
}

func startInstances(t *testing.T, n int, asURL string, rs *redisserver.Server) []*instance {
	t.Helper()
	const channel = "tgtest:revocations" // config's key_prefix
	before, err := rs.Subscribers(channel)
	if err != nil {
		t.Fatal(err)
	}
	var out []*instance
	for range n {
		out = append(out, startInstance(t, config(asURL, rs.Addr())))
	}
	rs.WaitSubscribers(t, channel, before+n) // their revocation subscriptions are up
	return out
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// check asks in through HTTP mode and returns the status and latency.
func (in *instance) check(t *testing.T, token string) (int, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+in.srv.HTTPAddress()+"/authz/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

func (in *instance) revoke(t *testing.T, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+in.srv.AdminAddress()+"/revoke", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// metrics is in's /metrics page.
func (in *instance) metrics(t *testing.T) string {
	t.Helper()
	return testsupport.Get(t, "http://"+in.srv.HTTPAddress()+"/metrics")
}

// want fails the test, saying what was checked, unless in answers token
// with code.
func (in *instance) want(t *testing.T, token string, code int, what string) {
	t.Helper()
	if got, _ := in.check(t, token); got != code {
		t.Fatalf("%s: %s answered %d, want %d", what, token, got, code)
	}
}

// waitWrites waits until in has written n answers to Redis.
func (in *instance) waitWrites(t *testing.T, n int64) {
	t.Helper()
	testsupport.WaitFor(t, 3*time.Second, fmt.Sprintf("%d writes to Redis", n), func() bool { return in.srv.Shared().Stats().Writes.Load() >= n })
}

func TestSharedCacheAcrossInstances(t *testing.T) {
	rs := redisserver.Start(t)
	as := introspectiontest.New(t)
	active(as, "tok-shared", "user-1")
	ins := startInstances(t, 3, as.URL, rs)

	ins[0].want(t, "tok-shared", 200, "instance 0")
	ins[0].waitWrites(t, 1)
	for i, in := range ins[1:] {
		if code, _ := in.check(t, "tok-shared"); code != 200 {
			t.Fatalf("instance %d: %d", i+1, code)
		}
		if hits := in.srv.Shared().Stats().Hits.Load(); hits != 1 {
			t.Fatalf("instance %d: %d Redis hits", i+1, hits)
		}
	}
	if n := as.Calls("tok-shared"); n != 1 {
		t.Fatalf("authorization server called %d times, want 1", n)
	}
	// Inactive answers are shared too (negative_ttl).
	ins[1].want(t, "tok-unknown", 401, "unknown token")
	ins[1].waitWrites(t, 1)
	if code, _ := ins[2].check(t, "tok-unknown"); code != 401 || as.Calls("tok-unknown") != 1 {
		t.Fatalf("unknown token on instance 2: %d, calls %d", code, as.Calls("tok-unknown"))
	}
	// The shared cache's work is visible in the metrics.
	body := ins[1].metrics(t)
	for _, want := range []string{`tokengate_shared_cache_lookups_total{result="hit"} 1`, `tokengate_shared_cache_lookups_total{result="miss"} 1`,
		`tokengate_revocations_total{source="local"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRevocationReachesEveryInstance(t *testing.T) {
	rs := redisserver.Start(t)
	as := introspectiontest.New(t)
	active(as, "tok-a", "user-a")
	active(as, "tok-b", "user-b")
	active(as, "tok-c1", "user-c")
	active(as, "tok-c2", "user-c")
	ins := startInstances(t, 3, as.URL, rs)

	// Every instance holds every token locally.
	for _, tok := range []string{"tok-a", "tok-b", "tok-c1", "tok-c2"} {
		for i, in := range ins {
			if code, _ := in.check(t, tok); code != 200 {
				t.Fatalf("%s on instance %d: %d", tok, i, code)
			}
		}
	}
	// Without the admin token: 401, nothing evicted.
	if code, _ := ins[0].revoke(t, "", `{"token":"tok-a"}`); code != 401 {
		t.Fatalf("no admin token: %d", code)
	}
	if code, _ := ins[0].revoke(t, "wrong", `{"token":"tok-a"}`); code != 401 {
		t.Fatalf("wrong admin token: %d", code)
	}
	ins[1].want(t, "tok-a", 200, "tok-a after refused revocation")

	// The authorization server still says active throughout: only the
	// revocation makes the instances deny.
	cases := []struct{ name, body string }{
		{"token", `{"token":"tok-a"}`},
		{"token_id", fmt.Sprintf(`{"token_id":%q}`, bearer.ID("tok-b"))},
		{"sub", `{"tenant":"acme","sub":"user-c"}`},
	}
	denied := map[string][]string{"token": {"tok-a"}, "token_id": {"tok-b"}, "sub": {"tok-c1", "tok-c2"}}
	for i, c := range cases {
		via := ins[i%len(ins)]
		code, body := via.revoke(t, adminToken, c.body)
		var got struct{ Evicted int }
		if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Evicted < len(denied[c.name]) {
			t.Fatalf("%s: %d %s", c.name, code, body)
		}
		deadline := time.Now().Add(time.Second)
		for _, tok := range denied[c.name] {
			for j, in := range ins {
				for {
					code, _ := in.check(t, tok)
					if code == 401 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: %s still %d on instance %d after 1s", c.name, tok, code, j)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
		if !strings.Contains(via.logs.String(), `"msg":"revocation"`) {
			t.Errorf("%s: revocation not logged", c.name)
		}
	}
	for i, in := range ins {
		if strings.Contains(in.logs.String(), "tok-") {
			t.Errorf("instance %d logged a token", i)
		}
	}
	// A token of another subject is unaffected.
	active(as, "tok-d", "user-d")
	ins[2].want(t, "tok-d", 200, "tok-d")
}

func TestRedisKilledAndBack(t *testing.T) {
	rs := redisserver.Start(t)
	as := introspectiontest.New(t)
	ins := startInstances(t, 2, as.URL, rs)
	active(as, "before", "u")
	if code, _ := ins[0].check(t, "before"); code != 200 {
		t.Fatal(code)
	}
	ins[0].waitWrites(t, 1)

	rs.Kill()
	for i := range 20 {
		tok := fmt.Sprintf("down-%d", i)
		active(as, tok, "u")
		for j, in := range ins {
			code, el := in.check(t, tok)
			if code != 200 {
				t.Fatalf("%s on instance %d with Redis down: %d", tok, j, code)
			}
			if el > 2*time.Second { // Redis's timeout is 50 ms: a stall, not a slow machine
				t.Fatalf("%s on instance %d took %v with Redis down", tok, j, el)
			}
		}
		if as.Calls(tok) != 2 {
			t.Fatalf("%s: %d calls (each instance introspects)", tok, as.Calls(tok))
		}
	}
	if ins[0].srv.Shared().Stats().Errors.Load() == 0 {
		t.Fatal("no Redis error counted")
	}

	rs.Restart()
	// After the breaker's pause, the shared cache works again.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		tok := fmt.Sprintf("back-%d", i)
		active(as, tok, "u")
		writes := ins[0].srv.Shared().Stats().Writes.Load()
		if code, _ := ins[0].check(t, tok); code != 200 {
			t.Fatalf("%s: %d", tok, code)
		}
		wait := time.Now().Add(200 * time.Millisecond)
		for ins[0].srv.Shared().Stats().Writes.Load() == writes && time.Now().Before(wait) {
			time.Sleep(5 * time.Millisecond)
		}
		if code, _ := ins[1].check(t, tok); code != 200 {
			t.Fatalf("%s on instance 1: %d", tok, code)
		}
		if as.Calls(tok) == 1 {
			break // a Redis hit on instance 1
		}
		if time.Now().After(deadline) {
			t.Fatal("the shared cache did not recover after Redis came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSlowRedisDoesNotSlowChecks(t *testing.T) {
	rs := redisserver.Start(t)
	as := introspectiontest.New(t)
	ins := startInstances(t, 1, as.URL, rs)
	// Warm the connection path.
	active(as, "warm", "u")
	ins[0].check(t, "warm")

	slept := make(chan error, 1)
	go func() { slept <- rs.Do("DEBUG", "SLEEP", "0.5") }()
	time.Sleep(20 * time.Millisecond) // the server is asleep
	start := time.Now()
	var worst time.Duration
	for i := 0; time.Since(start) < 400*time.Millisecond; i++ {
		tok := fmt.Sprintf("slow-%d", i)
		active(as, tok, "u")
		code, el := ins[0].check(t, tok)
		if code != 200 {
			t.Fatalf("%s: %d", tok, code)
		}
		worst = max(worst, el)
	}
	if err := <-slept; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	// timeout 50ms + margin for the introspection and the race detector.
	if worst > 50*time.Millisecond+200*time.Millisecond {
		t.Fatalf("worst check latency %v while Redis slept", worst)
	}
	if ins[0].srv.Shared().Stats().Errors.Load() == 0 {
		t.Fatal("no Redis timeout counted: was Redis asleep?")
	}
	t.Logf("worst check latency while Redis slept 0.5s: %v", worst)
}
