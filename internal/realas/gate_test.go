package realas

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tokengate/tokengate/internal/app"
	"github.com/tokengate/tokengate/internal/testlog"
)

// gate is tokengate running in-process with a gRPC client and its logs.
type gate struct {
	client authv3.AuthorizationClient
	logs   *testlog.Buffer
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
	path := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := app.Start(ctx, app.Options{ConfigPath: path, Logger: logger, Version: "realas-test"})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("tokengate Shutdown: %v", err)
		}
	})
	conn, err := grpc.NewClient(srv.GRPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokengate logs:\n%s", logs)
		}
	})
	return &gate{client: authv3.NewAuthorizationClient(conn), logs: logs}, nil
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
	headers := map[string]string{":authority": host, ":method": method, ":path": path}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Host: host, Path: path, Headers: headers},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := g.client.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check returned a gRPC error (denies must be responses): %v", err)
	}
	r := result{reason: resp.GetStatus().GetMessage(), set: map[string]string{}}
	if resp.GetStatus().GetCode() == int32(codes.OK) {
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatal("OK status without ok_response")
		}
		r.allow, r.status = true, 200
		for _, h := range ok.GetHeaders() {
			if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s: append action %v", h.GetHeader().GetKey(), h.GetAppendAction())
			}
			r.set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		r.remove = ok.GetHeadersToRemove()
		return r
	}
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatal("non-OK status without denied_response")
	}
	r.status = int(d.GetStatus().GetCode())
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "www-authenticate" {
			r.challenge = h.GetHeader().GetValue()
		}
	}
	return r
}

// expect fails the test unless r has this status and reason.
func expect(t *testing.T, what string, r result, status int, reason string) {
	t.Helper()
	if r.status != status || r.reason != reason {
		t.Fatalf("%s: got %d %q, want %d %q (%s)", what, r.status, r.reason, status, reason, r)
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
