package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tokengate/tokengate/internal/testlog"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// serveRun is `tokengate serve` running in-process on a testConfig file in
// front of a fake authorization server.
type serveRun struct {
	as     *introspectiontest.Server
	path   string
	stderr testlog.Buffer
	done   chan int // gets the exit code
}

// startServeCommand runs `tokengate serve` until ctx ends (SIGTERM) with
// reload as its SIGHUP.
func startServeCommand(t *testing.T, ctx context.Context, reload <-chan struct{}) *serveRun {
	t.Helper()
	as := introspectiontest.New(t)
	r := &serveRun{as: as, path: testsupport.WriteConfig(t, testConfig(as.URL)), done: make(chan int, 1)}
	go func() {
		r.done <- Main(ctx, Env{Args: []string{"serve", "--config", r.path}, Stdout: &testlog.Buffer{}, Stderr: &r.stderr, Reload: reload})
	}()
	return r
}

func TestServeLogsServingAndDrainsOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := startServeCommand(t, ctx, nil)
	stderr, done := &r.stderr, r.done
	var line map[string]any
	testsupport.WaitFor(t, 5*time.Second, "the serving line", func() bool {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, `"msg":"serving"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("serving line is not JSON: %q", l)
				}
				return true
			}
		}
		return false
	})
	grpcAddr, _ := line["grpc_address"].(string)
	httpAddr, _ := line["http_address"].(string)
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	conn := testsupport.Dial(t, grpcAddr)
	for _, svc := range []string{"", authService} {
		hr, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, hr, err)
		}
	}
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit code %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"draining"`) {
		t.Error("no draining line")
	}
}

func TestServeFailsOnBadConfig(t *testing.T) {
	code, _, errOut := run(t, context.Background(), "serve", "--config", testsupport.WriteConfig(t, "tenants: []\n"))
	if code != 1 || !strings.Contains(errOut, `"level":"ERROR"`) {
		t.Fatalf("serve: %d %q", code, errOut)
	}
}

func TestReloadSwapsValidAndKeepsOldOnInvalid(t *testing.T) {
	as := newGoodAS(t)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	h := startHarnessAt(t, path)
	if a := h.check(t, orders("good")); !a.allow {
		t.Fatalf("before reload: %s", a.reason)
	}
	// Invalid: the old config stays.
	testsupport.WriteFile(t, path, "tenants: [\n")
	if err := h.srv.Reload(context.Background()); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if a := h.check(t, orders("good")); !a.allow {
		t.Fatalf("after invalid reload: %s", a.reason)
	}
	// Valid, with the orders routes gone: new checks use it.
	cfg := strings.Replace(testConfig(as.URL), `path_prefix: "/orders"`, `path_prefix: "/v2/orders"`, -1)
	testsupport.WriteFile(t, path, cfg)
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	if a := h.check(t, orders("good")); a.reason != "no_route" {
		t.Fatalf("after valid reload: %s", a.reason)
	}
	if a := h.check(t, req{path: "/v2/orders", auth: "Bearer good"}); !a.allow {
		t.Fatalf("new route after reload: %s", a.reason)
	}
}

func TestDrainLetsInFlightChecksFinish(t *testing.T) {
	as := introspectiontest.New(t)
	release := make(chan struct{}) // closed once the drain has begun
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			introspectiontest.ReplyClaims(goodClaims(nil))(w, r)
		case <-r.Context().Done():
		}
	}
	// Two distinct tokens (acme allows two calls at once), both at the
	// server before the drain starts: a check sent after it would be
	// refused, which is not what this test is about.
	tokens := []string{"slow-1", "slow-2"}
	for _, token := range tokens {
		as.Handle(token, slow)
	}
	h := startHarness(t, testConfig(as.URL))
	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	results := make(chan result, len(tokens))
	for _, token := range tokens {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := h.client.Check(ctx, req{path: "/orders", auth: "Bearer " + token}.proto())
			results <- result{resp, err} // always sent: the test never waits forever
		}()
	}
	testsupport.WaitFor(t, 5*time.Second, "both checks to reach the server", func() bool { return as.InFlight() == int64(len(tokens)) })
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- h.srv.Shutdown(ctx)
	}()
	testsupport.WaitFor(t, 5*time.Second, "readyz to turn 503 while draining", func() bool {
		resp, err := http.Get("http://" + h.srv.HTTPAddress() + "/readyz")
		if err != nil {
			t.Fatalf("readyz while draining: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	close(release)
	for i := range tokens {
		r := <-results
		if r.err != nil || r.resp.GetStatus().GetCode() != 0 {
			t.Errorf("in-flight check %d: %v %v", i, r.err, r.resp.GetStatus())
		}
	}
	if err := <-drained; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestServeReloadsOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{})
	r := startServeCommand(t, ctx, reload)
	as, path, stderr, done := r.as, r.path, &r.stderr, r.done
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr: %s", stderr.String())
		}
	})
	waitFor := func(line string) {
		t.Helper()
		testsupport.WaitFor(t, 5*time.Second, line+" in stderr", func() bool { return strings.Contains(stderr.String(), line) })
	}
	waitFor(`"msg":"serving"`)
	testsupport.WriteFile(t, path, "tenants: [\n")
	reload <- struct{}{} // as SIGHUP does
	waitFor(`"msg":"config reload failed, keeping the old config"`)
	testsupport.WriteFile(t, path, testConfig(as.URL))
	reload <- struct{}{}
	waitFor(`"msg":"config reloaded"`)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
