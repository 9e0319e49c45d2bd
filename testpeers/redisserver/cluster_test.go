package redisserver_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// TestClusterFailover: three masters with a replica each; a key written
// through its master is read on its replica, and killing that master
// makes the replica take over.
func TestClusterFailover(t *testing.T) {
	c := redisserver.StartCluster(t, redisserver.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	if n := len(c.Nodes()); n != 6 {
		t.Fatalf("%d nodes, want 6", n)
	}
	masters := c.Masters()
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3", len(masters))
	}
	m := masters[0]
	// A key of one of m's slots: ask m which key-slot range it serves by
	// trying keys until one is not MOVED.
	key := ""
	for i := range 100 {
		k := "k" + strings.Repeat("x", i)
		if err := m.Do("SET", k, "v"); err == nil {
			key = k
			break
		}
	}
	if key == "" {
		t.Fatal("no key of 100 belongs to the first master")
	}
	r := c.ReplicaOf(m)
	if r == nil {
		t.Fatal("the first master has no replica")
	}
	testsupport.WaitFor(t, 15*time.Second, "the key replicated", func() bool {
		n, err := r.Reply("DBSIZE") // keyless: the replica's own keyspace, no MOVED
		return err == nil && n == "1"
	})

	start := time.Now()
	c.Kill(m)
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if role, _, err := redisserver.Role(r); err != nil || role != "master" {
		t.Fatalf("the replica's role after the failover: %q, %v", role, err)
	}
	t.Logf("failover in %v", time.Since(start).Round(10*time.Millisecond))
	if v, err := r.Value("GET", key); err != nil || v != "v" {
		t.Fatalf("GET %s on the new master: %v, %v", key, v, err)
	}
}

// TestStartTLS: a TLS-only server answers a client that trusts its CA and
// shows a certificate, and refuses plaintext.
func TestStartTLS(t *testing.T) {
	ca := testsupport.NewCA(t, "redis test CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, 2, "redis", true)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	client := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.KeyPair(t, 3, "client", false)}}
	s := redisserver.StartTLS(t, redisserver.TLSOptions{
		CertFile: write("redis.crt", cert), KeyFile: write("redis.key", key), CAFile: write("ca.crt", ca.CertPEM),
		Client: client,
	})
	if v, err := s.Value("PING"); err != nil || v != "PONG" {
		t.Fatalf("PING over TLS: %v, %v", v, err)
	}
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = conn.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	if line, _ := bufio.NewReader(conn).ReadString('\n'); strings.HasPrefix(line, "+PONG") {
		t.Fatal("the TLS-only server answered a plaintext PING")
	}
}

func TestLookToolMissing(t *testing.T) {
	_, err := redisserver.LookTool("redis-no-such-tool")
	if err == nil || !strings.Contains(err.Error(), "make redis-deps") || !strings.Contains(err.Error(), "redis-no-such-tool") {
		t.Fatalf("error %v: want one naming the tool and `make redis-deps`", err)
	}
}
