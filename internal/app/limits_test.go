package app

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// startIdleHarness starts a server whose HTTP listener closes idle
// keep-alive connections after idle.
func startIdleHarness(t *testing.T, idle time.Duration) *Server {
	t.Helper()
	as := introspectiontest.New(t)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	srv, err := Start(context.Background(), Options{ConfigPath: path, IdleTimeout: idle, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// TestHTTPListenerClosesIdleKeepAliveConnections: a client that sends one
// request and then nothing must not hold its file descriptor forever.
func TestHTTPListenerClosesIdleKeepAliveConnections(t *testing.T) {
	srv := startIdleHarness(t, 200*time.Millisecond)
	conn, err := net.Dial("tcp", srv.HTTPAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server closed after the first response; want keep-alive")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %v after %v, want EOF (closed by the server)", err, time.Since(start))
	}
}

func TestDefaultHTTPBounds(t *testing.T) {
	s := newHTTPServer(http.NotFoundHandler(), 0)
	if s.IdleTimeout != httpIdleTimeout || s.ReadHeaderTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("bounds: idle %v, read header %v, max header bytes %d", s.IdleTimeout, s.ReadHeaderTimeout, s.MaxHeaderBytes)
	}
}

// h2conn opens a raw HTTP/2 connection to the gRPC listener and returns
// its framer after the connection preface and an empty SETTINGS frame.
func h2conn(t *testing.T, addr string) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

func TestGRPCAdvertisesAStreamBound(t *testing.T) {
	h := startHarness(t, testConfig("http://127.0.0.1:1"))
	fr := h2conn(t, h.srv.GRPCAddress())
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			continue
		}
		v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
		if !ok || v != grpcMaxConcurrentStreams {
			t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (set: %v), want %d", v, ok, grpcMaxConcurrentStreams)
		}
		return
	}
}

// TestGRPCRefusesAPingFlood: a client pinging far more often than the
// keepalive policy allows is sent GOAWAY (ENHANCE_YOUR_CALM,
// "too_many_pings") instead of keeping the server busy.
func TestGRPCRefusesAPingFlood(t *testing.T) {
	h := startHarness(t, testConfig("http://127.0.0.1:1"))
	fr := h2conn(t, h.srv.GRPCAddress())
	for i := range 10 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // the server may already have closed the connection
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || !strings.Contains(string(ga.DebugData()), "too_many_pings") {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}
