// Package redisserver runs a real redis-server (Debian's) for tests: on a
// free loopback port, with persistence off, killed when the test ends.
// It is public test support: the shared-cache tests, the multi-instance
// tests (internal/redistest) and the end-to-end suite (e2e) use it.
//
// A Server's methods are safe for concurrent use.
//
// A missing redis-server fails the test (it is never skipped): install it
// with `make redis-deps`.
package redisserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Binary finds redis-server on PATH or in /usr/bin and /usr/sbin.
func Binary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("redis-server not found: these tests need a real Redis; run `make redis-deps` (Debian: apt-get install redis-server)")
}

// Start runs a redis-server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	port := addr.Port
	_ = l.Close() // only the port was wanted: redis-server binds it next
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port of the server (the same across restarts).
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--enable-debug-command", "local",
		"--loglevel", "warning")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := s.Do("PING"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("redis-server on port %d did not answer PING: %s", s.port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
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
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return "", err
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
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redis: empty reply")
	}
	if line[0] == '-' {
		return "", fmt.Errorf("redis: %s", strings.TrimSpace(line[1:]))
	}
	return line[1:], nil
}
