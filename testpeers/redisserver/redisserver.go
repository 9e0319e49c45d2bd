// Package redisserver runs a real redis-server (Debian's) for tests: on a
// free loopback port, with persistence off, killed when the test ends.
// It is public test support: the shared-cache tests, the multi-instance
// tests (internal/redistest) and the end-to-end suite (e2e) use it.
//
// A Server's methods are safe for concurrent use. StartTLS runs one that
// accepts TLS only, StartCluster a Redis Cluster of several.
//
// A missing redis-server (or redis-cli, for a cluster) fails the test (it
// is never skipped): install it with `make redis-deps`.
package redisserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"
)

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// listen is the arguments that make redis-server listen on port
	// (--port, or --port 0 --tls-port ...); more is every other one added
	// (cluster mode).
	listen, more []string
	client       *tls.Config // how Do and Reply connect; nil: plaintext

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Binary finds redis-server on PATH or in /usr/bin and /usr/sbin.
func Binary() (string, error) { return lookTool("redis-server") }

// lookTool finds the Redis program name on PATH or in /usr/bin and
// /usr/sbin; the error says how to install it.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, in /usr/bin or /usr/sbin: these tests need a real Redis; "+
		"run `make redis-deps` (Debian: apt-get install redis-server, which brings redis-cli)", name)
}

// Start runs a redis-server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	port := freePort(t)
	return launch(t, port, []string{"--port", strconv.Itoa(port)}, nil, nil)
}

// freePort is a loopback port nobody listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	_ = l.Close() // only the port was wanted: redis-server binds it next
	return addr.Port
}

// launch starts a Server on port (listen says how) with the arguments
// more, reached by Do with client (nil: plaintext), killed when the test
// ends.
func launch(t testing.TB, port int, listen, more []string, client *tls.Config) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port, listen: listen, more: more, client: client}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port of the server (the same across restarts).
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{"--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--enable-debug-command", "local",
		"--loglevel", "warning"}, s.listen...)
	cmd := exec.Command(s.bin, append(args, s.more...)...)
	out := &testlog.Buffer{} // the process's output, written by two pipes' goroutines
	cmd.Stdout, cmd.Stderr = out, out
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Do("PING")
		if err == nil {
			return
		}
		select {
		case <-done:
			s.Kill()
			s.t.Fatalf("redis-server %s exited at start (%v): %s", strings.Join(cmd.Args[1:], " "), cmd.ProcessState, out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("redis-server on port %d did not answer PING (%v): %s", s.port, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port (empty: nothing is
// persisted).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Do sends one command (arguments without spaces or quotes) with a plain
// RESP connection and reads the first line of the reply; an error reply is
// an error. It needs no client library, so tests can poke the server while
// the one under test is busy.
func (s *Server) Do(args ...string) error {
	return s.DoContext(context.Background(), args...)
}

// DoContext is Do bounded by ctx (and 5 s).
func (s *Server) DoContext(ctx context.Context, args ...string) error {
	_, err := s.ReplyContext(ctx, args...)
	return err
}

// Reply is Do returning the first line of the reply without its type byte
// and line end: "PONG", "3" for the integer reply ":3", "2" for an array
// of two elements ("*2"), "-1" for a nil bulk string.
func (s *Server) Reply(args ...string) (string, error) {
	return s.ReplyContext(context.Background(), args...)
}

// ReplyContext is Reply bounded by ctx (and 5 s).
func (s *Server) ReplyContext(ctx context.Context, args ...string) (string, error) {
	line, err := exchange(ctx, s, args, readLine)
	if err != nil {
		return "", err
	}
	if line[0] == '-' {
		return "", fmt.Errorf("redis: %s", strings.TrimSpace(line[1:]))
	}
	return line[1:], nil
}

// exchange sends one command to s on a new connection (TLS when the
// server takes TLS only) and reads the reply with read, all within ctx
// and 5 s.
func exchange[T any](ctx context.Context, s *Server, args []string, read func(*bufio.Reader) (T, error)) (T, error) {
	var zero T
	d := net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if s.client != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.client}).DialContext(ctx, "tcp", s.Addr())
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr())
	}
	if err != nil {
		return zero, err
	}
	defer func() { _ = conn.Close() }() // the reply is read by then
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return zero, err
	}
	return read(bufio.NewReader(conn))
}

// readLine reads one RESP line without its line end; it is never empty.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redis: empty reply")
	}
	return line, nil
}
