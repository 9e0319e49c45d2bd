package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// goodClaims is an access token that passes the test tenant's policy.
func goodClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"active": true, "sub": "user-1", "client_id": "app-1", "username": "alice",
		"scope": "orders.read profile", "aud": "api://orders", "iss": "https://idp.acme.example",
		"token_type": "Bearer", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	return testsupport.Edit(c, extra)
}

// newGoodAS is the shared fake authorization server, answering the token
// "good" with goodClaims.
func newGoodAS(t *testing.T) *introspectiontest.Server {
	as := introspectiontest.New(t)
	as.Claims("good", goodClaims(nil))
	return as
}

// startWithAS starts a harness on testConfig in front of a new fake
// authorization server, which it returns too.
func startWithAS(t *testing.T) (*harness, *introspectiontest.Server) {
	t.Helper()
	as := introspectiontest.New(t)
	return startHarness(t, testConfig(as.URL)), as
}

// wantCalls fails t unless as was asked about token n times; why, if not
// "", says why that many.
func wantCalls(t *testing.T, as *introspectiontest.Server, token string, n int, why string) {
	t.Helper()
	if got := as.Calls(token); got != n {
		if why != "" {
			why = " (" + why + ")"
		}
		t.Errorf("%s: %d calls to the authorization server, want %d%s", token, got, n, why)
	}
}

// orders is a GET of /orders with the bearer token.
func orders(token string) req { return req{path: "/orders", auth: "Bearer " + token} }

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

// metrics is the HTTP listener's /metrics page.
func (h *harness) metrics(t *testing.T) string {
	t.Helper()
	return testsupport.Get(t, "http://"+h.srv.HTTPAddress()+"/metrics")
}

func startHarness(t *testing.T, config string) *harness {
	t.Helper()
	return startHarnessAt(t, testsupport.WriteConfig(t, config))
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
	logger, logs := testlog.JSON(level)
	srv, err := Start(context.Background(), Options{ConfigPath: path, Logger: logger, Version: "test", Telemetry: tel})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	testsupport.ShutdownOnCleanup(t, srv.Shutdown)
	conn := testsupport.Dial(t, srv.GRPCAddress())
	return &harness{srv: srv, conn: conn, client: authv3.NewAuthorizationClient(conn), logs: logs}
}
