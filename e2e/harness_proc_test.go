package e2e

// The processes a test runs: tokengate serve (or a peer) with its JSON logs
// collected, waited on, signalled and dialled.

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
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
