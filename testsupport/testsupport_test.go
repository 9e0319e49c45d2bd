package testsupport_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

func TestShutdownOnCleanup(t *testing.T) {
	var stopped atomic.Bool
	t.Run("server", func(t *testing.T) {
		testsupport.ShutdownOnCleanup(t, func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("shutdown without a deadline")
			}
			stopped.Store(true)
			return nil
		})
	})
	if !stopped.Load() {
		t.Fatal("not stopped when the test ended")
	}
}

// WaitFor polls until the condition holds; Poll gives up after its time.
func TestWaitForAndPoll(t *testing.T) {
	calls := 0
	testsupport.WaitFor(t, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("%d calls, want 3", calls)
	}
	start := time.Now()
	if testsupport.Poll(20*time.Millisecond, func() bool { return false }) || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("Poll of a false condition: true, or gave up after %v", time.Since(start))
	}
}

// WriteConfig leaves the content in a file only its owner can read.
func TestWriteConfig(t *testing.T) {
	path := testsupport.WriteConfig(t, "tenants: []\n")
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "tenants: []\n" {
		t.Fatalf("read back %q, %v", data, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
}

// A FreeAddr can be listened on.
func TestFreeAddr(t *testing.T) {
	addr := testsupport.FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if p := testsupport.FreePort(t); p <= 0 {
		t.Fatalf("FreePort %d", p)
	}
}

// A server certificate of the CA is trusted for 127.0.0.1 by a client
// trusting the CA, which shows a client certificate of the CA that the
// server trusts in turn.
func TestCA(t *testing.T) {
	ca := testsupport.NewCA(t, "test CA")
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{ca.KeyPair(t, 2, "server", true)},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	served := make(chan error, 2)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			served <- c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{
		RootCAs:      ca.Pool(),
		Certificates: []tls.Certificate{ca.KeyPair(t, 3, "client", false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server" {
		t.Errorf("server certificate %q", cn)
	}
	conn.Close()
	if err := <-served; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if _, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{RootCAs: testsupport.NewCA(t, "other").Pool()}); err == nil {
		t.Fatal("a client trusting another CA accepted the server")
	}
}
