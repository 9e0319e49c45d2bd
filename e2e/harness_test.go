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
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tokengate/tokengate/internal/testlog"
	"github.com/tokengate/tokengate/testsupport"
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
	build := exec.Command("go", "build", "-o", tokengateBin, "./cmd/tokengate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -o bin/tokengate ./cmd/tokengate: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func must[T any](v T, _ error) T { return v }

// logBuffer collects a process's output; safe for concurrent use.
type logBuffer struct{ testlog.Buffer }

// logLine is one JSON log line; raw is the line as written.
type logLine struct {
	fields map[string]any
	raw    string
}

func (l logLine) str(key string) string { s, _ := l.fields[key].(string); return s }

// lines parses the complete JSON lines written so far (others are skipped).
func (l *logBuffer) lines() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, logLine{fields: m, raw: sc.Text()})
		}
	}
	return out
}

// proc is a running tokengate serve (or another peer process).
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *logBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error         // set before done is closed

	grpcAddr, httpAddr string
	grpcTLS            *tls.Config // client TLS for the gRPC listener; nil: plaintext

	connOnce sync.Once
	conn     *grpc.ClientConn
	connErr  error
}

// serveOpts are the variations of startServe.
type serveOpts struct {
	env  []string // KEY=VALUE added to a clean environment
	args []string // more serve flags
	// fileAddresses leaves out --grpc-address/--http-address, so the
	// addresses come from the config file.
	fileAddresses bool
	grpcTLS       *tls.Config
}

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

// startProcess starts bin with args; it is killed when the test ends and
// its output is logged when the test failed.
func startProcess(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stdout: &logBuffer{}, stderr: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if p.conn != nil {
			p.conn.Close()
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, tail(p.stderr.String(), 60))
			if out := p.stdout.String(); out != "" {
				t.Logf("%s stdout:\n%s", p.name, tail(out, 20))
			}
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// startServe runs `tokengate serve --config path` and waits for its
// "serving" line.
func startServe(t *testing.T, path string, o serveOpts) *proc {
	t.Helper()
	args := []string{"serve", "--config", path}
	if !o.fileAddresses {
		args = append(args, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0")
	}
	args = append(args, o.args...)
	p := startProcess(t, "tokengate", tokengateBin, append(baseEnv(), o.env...), args...)
	p.grpcTLS = o.grpcTLS
	line := p.waitLog(t, 20*time.Second, 0, msgIs("serving"))
	p.grpcAddr, p.httpAddr = line.str("grpc_address"), line.str("http_address")
	for _, a := range []string{p.grpcAddr, p.httpAddr} {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("serving line has address %q (want 127.0.0.1:port): %s", a, line.raw)
		}
	}
	return p
}

func msgIs(msg string) func(logLine) bool {
	return func(l logLine) bool { return l.str("msg") == msg }
}

// mark is the number of log lines so far, for waitLog to look after.
func (p *proc) mark() int { return len(p.stderr.lines()) }

// waitLog waits up to d for a JSON line on stderr, from line number from
// on, that match accepts.
func (p *proc) waitLog(t *testing.T, d time.Duration, from int, match func(logLine) bool) logLine {
	t.Helper()
	var found logLine
	testsupport.WaitFor(t, d, p.name+"'s expected log line", func() bool {
		lines := p.stderr.lines()
		for _, l := range lines[min(from, len(lines)):] {
			if match(l) {
				found = l
				return true
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before the expected log line; stderr:\n%s", p.name, p.waitErr, tail(p.stderr.String(), 40))
		default:
		}
		return false
	})
	return found
}

// findLogs returns the lines from line number from on that match accepts.
func (p *proc) findLogs(from int, match func(logLine) bool) []logLine {
	var out []logLine
	lines := p.stderr.lines()
	for _, l := range lines[min(from, len(lines)):] {
		if match(l) {
			out = append(out, l)
		}
	}
	return out
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// waitExit waits up to d for the process to end and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", p.name, d)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// grpcConn is one client connection to the gRPC listener, closed at the end.
func (p *proc) grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	p.connOnce.Do(func() {
		creds := insecure.NewCredentials()
		if p.grpcTLS != nil {
			creds = credentials.NewTLS(p.grpcTLS)
		}
		p.conn, p.connErr = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(creds))
	})
	if p.connErr != nil {
		t.Fatalf("grpc client for %s: %v", p.grpcAddr, p.connErr)
	}
	return p.conn
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
