package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tokengate/tokengate/internal/telemetry"
)

// fakeAS is an RFC 7662 endpoint whose answers tests choose per token. It
// counts calls per token and records what it received.
type fakeAS struct {
	*httptest.Server
	mu       sync.Mutex
	answers  map[string]func(w http.ResponseWriter)
	calls    map[string]int
	total    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	lastAuth string
	// traceparents received, in order
	traceparents []string
	// last is the last request received (headers, URL and form).
	last *http.Request
}

func newFakeAS(t *testing.T) *fakeAS {
	f := &fakeAS{answers: map[string]func(http.ResponseWriter){}, calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	f.total.Add(1)
	token := r.PostFormValue("token")
	f.mu.Lock()
	f.calls[token]++
	f.lastAuth = r.Header.Get("Authorization")
	f.last = r
	if tp := r.Header.Get("Traceparent"); tp != "" {
		f.traceparents = append(f.traceparents, tp)
	}
	answer, ok := f.answers[token]
	f.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"active":false}`)
		return
	}
	answer(w)
}

// claims makes token answer with these claims as JSON.
func (f *fakeAS) claims(token string, claims map[string]any) {
	body, _ := json.Marshal(claims)
	f.raw(token, http.StatusOK, string(body))
}

func (f *fakeAS) raw(token string, status int, body string) {
	f.answer(token, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func (f *fakeAS) answer(token string, fn func(http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[token] = fn
}

func (f *fakeAS) callsFor(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

// goodClaims is an access token that passes the test tenant's policy.
func goodClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"active": true, "sub": "user-1", "client_id": "app-1", "username": "alice",
		"scope": "orders.read profile", "aud": "api://orders", "iss": "https://idp.acme.example",
		"token_type": "Bearer", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// testConfig is a two-tenant configuration in front of as; extra is
// appended to tenant acme's block.
func testConfig(asURL string) string {
	return fmt.Sprintf(`
grpc:
  address: "127.0.0.1:0"
http:
  address: "127.0.0.1:0"
tenants:
  - name: acme
    issuer: "https://idp.acme.example"
    introspection:
      url: "%[1]s/oauth2/introspect"
      client_id: "rs:acme"
      client_secret: "s3cret%%value"
      timeout: 1s
    audiences: ["api://orders"]
    max_concurrent_introspections: 2
    claims_to_headers:
      sub: x-auth-subject
      client_id: x-auth-client-id
      scope: x-auth-scope
      username: x-auth-username
      org_id: x-auth-org
    claims_header: x-auth-claims
    strip_authorization: true
  - name: globex
    introspection:
      url: "%[1]s/t/globex.com/oauth2/introspect"
      auth_method: client_secret_post
      client_id: "rs-globex"
      client_secret: "other"
    claims_to_headers:
      sub: x-globex-subject
routes:
  - name: health
    path_prefix: "/healthz"
    public: true
  - name: orders-read
    tenant: acme
    hosts: ["orders.acme.example", "*.orders.acme.example"]
    path_prefix: "/orders"
    methods: ["GET", "HEAD"]
    scopes: ["orders.read"]
  - name: orders-write
    tenant: acme
    hosts: ["orders.acme.example"]
    path_prefix: "/orders"
    methods: ["POST"]
    scopes: ["orders.read", "orders.write"]
  - name: reports
    tenant: acme
    path_prefix: "/reports"
    any_scopes: ["reports.view", "reports.admin"]
    audiences: ["api://reports"]
  - name: globex-api
    tenant: globex
    hosts: ["api.globex.example"]
`, asURL)
}

// harness is a running tokengate with a gRPC client.
type harness struct {
	srv    *Server
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
	logs   *testlog.Buffer
}

func startHarness(t *testing.T, config string) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startHarnessAt(t, path)
}

func startHarnessAt(t *testing.T, path string) *harness {
	t.Helper()
	return startHarnessLevel(t, path, slog.LevelDebug)
}

// startHarnessLevel logs at level; benchmarks use the production default
// (info), where allows are not logged.
func startHarnessLevel(t *testing.T, path string, level slog.Level) *harness {
	t.Helper()
	return startHarnessOpts(t, path, level, nil)
}

func startHarnessOpts(t *testing.T, path string, level slog.Level, tel *telemetry.Telemetry) *harness {
	t.Helper()
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	srv, err := Start(context.Background(), Options{ConfigPath: path, Logger: logger, Version: "test", Telemetry: tel})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	conn, err := grpc.NewClient(srv.GRPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{srv: srv, conn: conn, client: authv3.NewAuthorizationClient(conn), logs: logs}
}
