package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func run(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut testlog.Buffer
	code = Main(ctx, Env{Args: args, Stdout: &out, Stderr: &errOut, Version: "v1.2.3"})
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, context.Background(), "version")
	if code != 0 || strings.TrimSpace(out) != "tokengate v1.2.3" {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := run(t, context.Background(), "frobnicate"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestValidateOK(t *testing.T) {
	path := writeConfig(t, testConfig("http://127.0.0.1:1"))
	code, out, errOut := run(t, context.Background(), "validate", "--config", path)
	if code != 0 || strings.TrimSpace(out) != "config OK" {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
}

func TestValidateReportsEveryErrorOneALine(t *testing.T) {
	path := writeConfig(t, `
tenants:
  - name: Bad_Name
    introspection:
      url: "not a url"
      client_id: x
      client_secret: "${TOKENGATE_TEST_UNSET_SECRET}"
routes:
  - name: r
    tenant: nope
`)
	code, out, errOut := run(t, context.Background(), "validate", "--config", path)
	if code != 1 || out != "" {
		t.Fatalf("validate: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) < 4 {
		t.Fatalf("want every error on its own line, got %q", errOut)
	}
	for _, want := range []string{"tenants[0].name", "tenants[0].introspection.url", "TOKENGATE_TEST_UNSET_SECRET", "routes[0].tenant"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in %q", want, errOut)
		}
	}
}

func TestValidateRedisAndAdmin(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1") + "admin:\n  address: 127.0.0.1:0\n  token: t\n" +
		"redis:\n  address: 127.0.0.1:1\n"
	code, out, errOut := run(t, context.Background(), "validate", "--config", writeConfig(t, cfg))
	if code != 0 || !strings.Contains(out, "config OK") {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
	// An unreadable client certificate is found by validate too.
	cfg += "  tls:\n    cert_file: /nonexistent/cert.pem\n    key_file: /nonexistent/key.pem\n"
	code, _, errOut = run(t, context.Background(), "validate", "--config", writeConfig(t, cfg))
	if code != 1 || !strings.Contains(errOut, "redis.tls") {
		t.Fatalf("validate with a bad redis.tls: %d %q", code, errOut)
	}
}

func TestServeLogsServingAndDrainsOnSignal(t *testing.T) {
	as := newFakeAS(t)
	path := writeConfig(t, testConfig(as.URL))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{Args: []string{"serve", "--config", path}, Stdout: &testlog.Buffer{}, Stderr: &stderr})
	}()
	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, `"msg":"serving"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("serving line is not JSON: %q", l)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if line == nil {
		cancel()
		t.Fatalf("no serving line: %s", stderr.String())
	}
	grpcAddr, _ := line["grpc_address"].(string)
	httpAddr, _ := line["http_address"].(string)
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
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
	code, _, errOut := run(t, context.Background(), "serve", "--config", writeConfig(t, "tenants: []\n"))
	if code != 1 || !strings.Contains(errOut, `"level":"ERROR"`) {
		t.Fatalf("serve: %d %q", code, errOut)
	}
}

func TestReloadSwapsValidAndKeepsOldOnInvalid(t *testing.T) {
	as := newFakeAS(t)
	as.claims("good", goodClaims(nil))
	path := writeConfig(t, testConfig(as.URL))
	h := startHarnessAt(t, path)
	if a := h.check(t, req{path: "/orders", auth: "Bearer good"}); !a.allow {
		t.Fatalf("before reload: %s", a.reason)
	}
	// Invalid: the old config stays.
	if err := os.WriteFile(path, []byte("tenants: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(context.Background()); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if a := h.check(t, req{path: "/orders", auth: "Bearer good"}); !a.allow {
		t.Fatalf("after invalid reload: %s", a.reason)
	}
	// Valid, with the orders routes gone: new checks use it.
	cfg := strings.Replace(testConfig(as.URL), `path_prefix: "/orders"`, `path_prefix: "/v2/orders"`, -1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	if a := h.check(t, req{path: "/orders", auth: "Bearer good"}); a.reason != "no_route" {
		t.Fatalf("after valid reload: %s", a.reason)
	}
	if a := h.check(t, req{path: "/v2/orders", auth: "Bearer good"}); !a.allow {
		t.Fatalf("new route after reload: %s", a.reason)
	}
}

func TestCheckCommand(t *testing.T) {
	as := newFakeAS(t)
	as.claims("good", goodClaims(nil))
	path := writeConfig(t, testConfig(as.URL))
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("good\n"), 0o600)

	code, out, errOut := run(t, context.Background(), "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--token-file", tokenFile)
	if code != 0 {
		t.Fatalf("allow: exit %d: %s %s", code, out, errOut)
	}
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("output is not JSON: %q", out)
	}
	if e.Decision != "allow" || e.Reason != "allowed" || e.Route != "orders-read" || e.HeadersSet["x-auth-subject"] != "user-1" || e.Cache != "miss" {
		t.Errorf("allow explanation: %+v", e)
	}

	code, out, _ = run(t, context.Background(), "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--header", "Authorization: Bearer nope")
	if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Reason != "inactive" || e.Status != 401 || !strings.Contains(e.WWWAuthenticate, `error="invalid_token"`) {
		t.Fatalf("deny: exit %d %q", code, out)
	}
	if strings.Contains(out, "nope") {
		t.Error("the token is printed")
	}

	if code, _, _ := run(t, context.Background(), "check", "--config", writeConfig(t, "nope: 1\n")); code != 2 {
		t.Fatalf("bad config: exit %d, want 2", code)
	}
}

func TestDrainLetsInFlightChecksFinish(t *testing.T) {
	as := newFakeAS(t)
	as.answer("slow", func(w http.ResponseWriter) {
		time.Sleep(400 * time.Millisecond)
		w.Write([]byte(`{"active":true,"scope":"orders.read","aud":"api://orders"}`))
	})
	h := startHarness(t, testConfig(as.URL))
	results := make(chan answer, 3)
	for _, token := range []string{"slow", "slow", "slow"} {
		go func() { results <- h.check(t, req{path: "/orders", auth: "Bearer " + token}) }()
	}
	deadline := time.Now().Add(2 * time.Second)
	for as.inFlight.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- h.srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get("http://" + h.srv.HTTPAddress() + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining: %v %v", resp, err)
	}
	resp.Body.Close()
	for i := 0; i < 3; i++ {
		if a := <-results; !a.allow {
			t.Errorf("in-flight check %d: %d %s", i, a.status, a.reason)
		}
	}
	if err := <-drained; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestServeReloadsOnSignal(t *testing.T) {
	as := newFakeAS(t)
	path := writeConfig(t, testConfig(as.URL))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{})
	var stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{Args: []string{"serve", "--config", path}, Stdout: &testlog.Buffer{}, Stderr: &stderr, Reload: reload})
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in: %s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(`"msg":"serving"`)
	os.WriteFile(path, []byte("tenants: [\n"), 0o600)
	reload <- struct{}{} // as SIGHUP does
	waitFor(`"msg":"config reload failed, keeping the old config"`)
	os.WriteFile(path, []byte(testConfig(as.URL)), 0o600)
	reload <- struct{}{}
	waitFor(`"msg":"config reloaded"`)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
