package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// Redis over TLS, as users run it in production (peers:
// harness_redis_test.go).

// TestRedisTLSSharing: tokengate reaches a TLS-only redis-server with a
// client certificate (redis.tls.cert_file/key_file), the server verified
// against the system roots (the test CA given as SSL_CERT_FILE, as a CA
// installed on the host would be); two replicas share a token through it.
func TestRedisTLSSharing(t *testing.T) {
	t.Parallel()
	r := startRedisTLS(t)
	as := newAS(t)
	redisYAML := r.yaml(fmt.Sprintf("{cert_file: %q, key_file: %q}", r.clientCert, r.clientKey))
	env := []string{"SSL_CERT_FILE=" + r.caFile, "SSL_CERT_DIR=" + t.TempDir()}
	a, b := startRedisReplica(t, as.URL, redisYAML, env...), startRedisReplica(t, as.URL, redisYAML, env...)
	shareOverTLS(t, r, as.Claims, as.Calls, a, b, "tok-redis-tls")
}

// shareOverTLS checks tok on a, waits for its entry in Redis, checks it
// on b and wants one authorization server call in all.
func shareOverTLS(t *testing.T, r redisTLS, claims func(string, map[string]any), calls func(string) int, a, b *proc, tok string) {
	t.Helper()
	claims(tok, goodClaims(nil))
	if ans := a.check(t, req{auth: bearer(tok)}); !ans.allow {
		t.Fatalf("replica A: %d %v", ans.status, ans.body)
	}
	testsupport.WaitFor(t, 5*time.Second, "replica A's entry in Redis over TLS", func() bool { return r.keys(t) >= 1 })
	if ans := b.check(t, req{auth: bearer(tok)}); !ans.allow || ans.set["x-auth-subject"] != "user-1" {
		t.Fatalf("replica B: %d %v, set %v", ans.status, ans.body, ans.set)
	}
	if n := calls(tok); n != 1 {
		t.Fatalf("the authorization server was called %d times, want 1 (B reads A's answer from Redis over TLS)", n)
	}
	if hits := b.metric(t, "tokengate_shared_cache_lookups_total", map[string]string{"result": "hit"}); hits != 1 {
		t.Errorf("replica B counted %v shared-cache hits, want 1", hits)
	}
}

// TestRedisTLSWrongCA: a redis-server whose certificate the system roots
// do not trust is refused at the handshake. As the contract says of a
// failing Redis, tokengate starts and serves: every valid token is still
// allowed (each replica asks the authorization server itself), the
// failures are counted, and a log line names the certificate error; no
// entry reaches Redis.
func TestRedisTLSWrongCA(t *testing.T) {
	t.Parallel()
	r := startRedisTLS(t)
	as := newAS(t)
	answerEveryToken(t, as)
	redisYAML := r.yaml(fmt.Sprintf("{cert_file: %q, key_file: %q}", r.clientCert, r.clientKey))
	env := []string{"SSL_CERT_FILE=" + r.otherCA, "SSL_CERT_DIR=" + t.TempDir()}
	a, b := startRedisReplica(t, as.URL, redisYAML, env...), startRedisReplica(t, as.URL, redisYAML, env...)
	wantRedisRefused(t, r, as.Calls, a, b)
}

// wantRedisRefused checks distinct tokens on a and b: all allowed, none
// shared, Redis errors counted and logged as a certificate failure.
func wantRedisRefused(t *testing.T, r redisTLS, calls func(string) int, a, b *proc) {
	t.Helper()
	const n = 8 // more than the shared cache's 5 errors in a row before it logs
	for i := range n {
		tok := "tok-wrong-ca-" + strconv.Itoa(i)
		for _, p := range []*proc{a, b} {
			if ans := p.check(t, req{auth: bearer(tok)}); !ans.allow {
				t.Fatalf("check %d with Redis refusing the handshake: %d %v (want allowed: a Redis failure is a miss)", i, ans.status, ans.body)
			}
		}
		if c := calls(tok); c != 2 {
			t.Errorf("token %d: %d authorization server calls, want 2 (nothing shared)", i, c)
		}
	}
	if k := r.keys(t); k != 0 {
		t.Errorf("%d keys in Redis, want 0 (no connection was trusted)", k)
	}
	for name, p := range map[string]*proc{"A": a, "B": b} {
		if e := p.metric(t, "tokengate_shared_cache_lookups_total", map[string]string{"result": "error"}); e < 1 {
			t.Errorf("replica %s counted %v shared-cache lookup errors, want > 0", name, e)
		}
		line := p.waitLog(t, 5*time.Second, 0, msgIs("shared cache: Redis failing, skipped for a while"))
		if errText := line.str("error"); !strings.Contains(errText, "certificate signed by unknown authority") {
			t.Errorf("replica %s's log line does not name the certificate failure: %s", name, line.raw)
		} else {
			t.Logf("replica %s: %s", name, line.raw)
		}
	}
}

// TestRedisTLSCAFile: CONTRACT.md's redis section has
// tls: {ca_file: ..., cert_file: ..., key_file: ...}: a ca_file trusts
// a private CA for the Redis server (no system roots needed), and a wrong
// one leaves Redis refused, as above.
func TestRedisTLSCAFile(t *testing.T) {
	t.Parallel()
	r := startRedisTLS(t)
	for _, ca := range []string{r.caFile, r.otherCA} {
		path := (cfg{as: "http://127.0.0.1:9", extra: "redis:\n" + r.yaml(fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", ca, r.clientCert, r.clientKey))}).write(t)
		if _, stderr, code := runCLI(t, acmeEnv, "validate", "--config", path); code != 0 {
			t.Fatalf("tokengate validate refuses the contract's redis.tls.ca_file (exit %d): %s", code, strings.TrimSpace(stderr))
		}
	}
	as := newAS(t)
	answerEveryToken(t, as)
	good := r.yaml(fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", r.caFile, r.clientCert, r.clientKey))
	// The host trusts neither CA: only ca_file can make the server trusted.
	env := []string{"SSL_CERT_FILE=" + r.otherCA, "SSL_CERT_DIR=" + t.TempDir()}
	a, b := startRedisReplica(t, as.URL, good, env...), startRedisReplica(t, as.URL, good, env...)
	shareOverTLS(t, r, as.Claims, as.Calls, a, b, "tok-redis-ca-file")

	r2 := startRedisTLS(t)
	wrong := r2.yaml(fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", r2.otherCA, r2.clientCert, r2.clientKey))
	c, d := startRedisReplica(t, as.URL, wrong, env...), startRedisReplica(t, as.URL, wrong, env...)
	wantRedisRefused(t, r2, as.Calls, c, d)
}
