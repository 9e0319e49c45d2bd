// Package e2e is tokengate's black-box end-to-end suite: it builds
// bin/tokengate once (TestMain) and drives the binary only through its
// public surface (flags, config files, environment, signals, the gRPC and
// HTTP listeners, stdout/stderr and exit codes) against a fake
// authorization server, a real redis-server and a real Jaeger v2.
//
// Peers it needs: redis-server (`make redis-deps`) and bin/jaeger (`make
// jaeger`, or $TOKENGATE_JAEGER). A missing one fails the test that needs it.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	repoRoot     string // the module's root (the parent of e2e/)
	tokengateBin string // <repoRoot>/bin/tokengate, built by TestMain
)

func TestMain(m *testing.M) {
	root, err := filepath.Abs("..")
	if err == nil {
		var mod []byte
		mod, err = os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil && !bytes.Contains(mod, []byte("module github.com/tokengate/tokengate\n")) {
			err = errors.New("../go.mod is not module github.com/tokengate/tokengate")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: finding the repository root from %s: %v\n", must(os.Getwd()), err)
		os.Exit(1)
	}
	repoRoot = root
	tokengateBin = filepath.Join(root, "bin", "tokengate")
	// Static and -trimpath, as `make build` and the Dockerfile build it:
	// the suite drives the binary users run (and reuses what make test's
	// lint step compiled with the same settings).
	build := exec.Command("go", "build", "-trimpath", "-o", tokengateBin, "./cmd/tokengate")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: CGO_ENABLED=0 go build -trimpath -o bin/tokengate ./cmd/tokengate: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func must[T any](v T, _ error) T { return v }

// baseEnv is the test process's environment without OTEL_* variables, so
// the host's telemetry settings never leak into a test.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// runCLI runs bin/tokengate with args (bounded by 30 s) and returns its
// output and exit code.
func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tokengateBin, args...)
	cmd.Env = append(baseEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("tokengate %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("tokengate %s did not finish within 30s", strings.Join(args, " "))
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile writes content next to path and renames it over path, as
// editors and config management tools do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// httpDo sends one request and returns the status, headers and body.
func httpDo(t *testing.T, method, url string, header http.Header, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			if strings.EqualFold(k, "Host") {
				req.Host = v
			} else {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
