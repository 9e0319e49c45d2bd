package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// Redis as users run it in production, the peers of
// redis_cluster_test.go and redis_tls_test.go: tokengate replicas with a
// redis section of the test's, and a TLS-only redis-server.

// startRedisReplica is a tokengate whose redis section is redisYAML
// (indented under "redis:"), with env added to the suite's.
func startRedisReplica(t *testing.T, asURL, redisYAML string, env ...string) *proc {
	t.Helper()
	c := cfg{as: asURL, extra: "redis:\n" + redisYAML}
	return startServe(t, c.write(t), serveOpts{env: append(env, acmeEnv...)})
}

// answerEveryToken makes as answer every token it was not told about
// with a good token's claims.
func answerEveryToken(t *testing.T, as *introspectiontest.Server) {
	t.Helper()
	body, err := json.Marshal(goodClaims(nil))
	if err != nil {
		t.Fatal(err)
	}
	as.HandleUnknown(introspectiontest.Reply(200, string(body)))
}

// redisTLS is a TLS-only redis-server that wants client certificates,
// with the files a tokengate needs to reach it.
type redisTLS struct {
	server *redisserver.Server
	// caFile signed the server's and the client's certificates; otherCA
	// signed neither.
	caFile, otherCA string
	// clientCert and clientKey are tokengate's client certificate.
	clientCert, clientKey string
}

func startRedisTLS(t *testing.T) redisTLS {
	t.Helper()
	dir := t.TempDir()
	ca, other := testsupport.NewCA(t, "e2e redis CA"), testsupport.NewCA(t, "e2e other CA")
	srvCert, srvKey := ca.Issue(t, 2, "redis", true)
	cliCert, cliKey := ca.Issue(t, 3, "tokengate", false)
	r := redisTLS{
		caFile: writeFile(t, dir, "ca.crt", string(ca.CertPEM)), otherCA: writeFile(t, dir, "other-ca.crt", string(other.CertPEM)),
		clientCert: writeFile(t, dir, "client.crt", string(cliCert)), clientKey: writeFile(t, dir, "client.key", string(cliKey)),
	}
	r.server = redisserver.StartTLS(t, redisserver.TLSOptions{
		CertFile: writeFile(t, dir, "redis.crt", string(srvCert)), KeyFile: writeFile(t, dir, "redis.key", string(srvKey)),
		CAFile: r.caFile,
		Client: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.KeyPair(t, 4, "test", false)}, MinVersion: tls.VersionTLS12},
	})
	return r
}

// yaml is the redis section for r with tlsYAML as redis.tls.
func (r redisTLS) yaml(tlsYAML string) string {
	return fmt.Sprintf("  address: %q\n  key_prefix: \"e2e:\"\n  timeout: 500ms\n  tls: %s\n", r.server.Addr(), tlsYAML)
}

// keys is the server's DBSIZE.
func (r redisTLS) keys(t *testing.T) int {
	t.Helper()
	n, err := r.server.Reply("DBSIZE")
	if err != nil {
		t.Fatalf("DBSIZE over TLS: %v", err)
	}
	v, _ := strconv.Atoi(n)
	return v
}
