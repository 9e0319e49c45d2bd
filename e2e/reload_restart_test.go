package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// serverCert writes a certificate for 127.0.0.1 and its key into dir; it
// returns the YAML flow map for a tls: section and a client config that
// trusts it.
func serverCert(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	ca := testsupport.NewCA(t, "tokengate-e2e CA")
	certPEM, keyPEM := ca.Issue(t, 2, "tokengate-e2e", true)
	certFile := writeFile(t, dir, "tls.crt", string(certPEM))
	keyFile := writeFile(t, dir, "tls.key", string(keyPEM))
	return fmt.Sprintf("{cert_file: %q, key_file: %q}", certFile, keyFile), &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// TestReloadRestartOnlySettings: a reload that changes a setting needing a
// restart fails, names the setting, is counted, and the old listeners keep
// serving with the old config. The addresses come from the file (no
// --*-address flags), so changing them in the file is a change.
func TestReloadRestartOnlySettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setting string // what the error must name
		startTL bool   // start with grpc.tls
		change  func(t *testing.T, c *cfg, tlsYAML string)
		movedTo func(c cfg) string // an address that must not be listening afterwards
	}{
		{name: "http.address", setting: "http.address",
			change:  func(t *testing.T, c *cfg, _ string) { c.httpAddr = testsupport.FreeAddr(t) },
			movedTo: func(c cfg) string { return c.httpAddr }},
		{name: "grpc.address", setting: "grpc.address",
			change:  func(t *testing.T, c *cfg, _ string) { c.grpcAddr = testsupport.FreeAddr(t) },
			movedTo: func(c cfg) string { return c.grpcAddr }},
		{name: "grpc.tls on", setting: "grpc.tls", change: func(t *testing.T, c *cfg, tlsYAML string) { c.grpcTLS = tlsYAML }},
		{name: "http.tls on", setting: "http.tls", change: func(t *testing.T, c *cfg, tlsYAML string) { c.httpTLS = tlsYAML }},
		{name: "grpc.tls off", setting: "grpc.tls", startTL: true, change: func(t *testing.T, c *cfg, _ string) { c.grpcTLS = "" }},
		{name: "redis added", setting: "redis", change: func(t *testing.T, c *cfg, _ string) {
			c.extra = fmt.Sprintf("redis:\n  address: \"127.0.0.1:%d\"\n", testsupport.FreePort(t))
		}},
		{name: "admin added", setting: "admin", change: func(t *testing.T, c *cfg, _ string) {
			c.extra = fmt.Sprintf("admin:\n  address: \"127.0.0.1:%d\"\n  token: %q\n", testsupport.FreePort(t), strings.Repeat("a", 40))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t)
			as.Claims("tok-restart", goodClaims(nil))
			dir := t.TempDir()
			tlsYAML, clientTLS := serverCert(t, dir)
			c := cfg{as: as.URL, grpcAddr: testsupport.FreeAddr(t), httpAddr: testsupport.FreeAddr(t)}
			o := serveOpts{env: acmeEnv, fileAddresses: true}
			if tc.startTL {
				c.grpcTLS, o.grpcTLS = tlsYAML, clientTLS
			}
			path := writeFile(t, dir, "tokengate.yaml", c.String())
			p := startServe(t, path, o)
			if p.grpcAddr != c.grpcAddr || p.httpAddr != c.httpAddr {
				t.Fatalf("serving on %s and %s, the file says %s and %s", p.grpcAddr, p.httpAddr, c.grpcAddr, c.httpAddr)
			}
			if a := p.check(t, req{auth: bearer("tok-restart")}); !a.allow {
				t.Fatalf("before: %d", a.status)
			}
			failures := p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "failure"})

			changed := c
			tc.change(t, &changed, tlsYAML)
			changed.readScopes = []string{"orders.manage"} // also a reloadable change, which must not apply either
			mark := p.mark()
			replaceFile(t, path, changed.String())
			p.signal(t, syscall.SIGHUP)
			var lines []logLine
			if !testsupport.Poll(10*time.Second, func() bool {
				lines = p.findLogs(mark, failedReload)
				if slices.ContainsFunc(lines, func(l logLine) bool { return strings.Contains(l.str("error"), tc.setting) }) {
					return true
				}
				if ok := p.findLogs(mark, msgIs("config reloaded")); len(ok) > 0 {
					t.Fatalf("the reload succeeded, want a failure naming %s: %s", tc.setting, ok[0].raw)
				}
				return false
			}) {
				t.Fatalf("no %q line naming %s within 10s; failure lines: %v", "config reload failed, keeping the old config", tc.setting, rawLines(lines))
			}
			if v := p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "failure"}); v < failures+1 {
				t.Errorf("tokengate_config_reloads_total{result=failure} = %v, want >= %v", v, failures+1)
			}
			// The old listeners keep serving, with the old config.
			if code, _, _ := httpDo(t, "GET", "http://"+c.httpAddr+"/readyz", nil, ""); code != 200 {
				t.Errorf("old /readyz: %d", code)
			}
			if a := p.check(t, req{auth: bearer("tok-restart")}); !a.allow {
				t.Errorf("old gRPC listener after the failed reload: %d %q, want the old config's allow", a.status, a.challenge)
			}
			if tc.movedTo != nil {
				if conn, err := net.DialTimeout("tcp", tc.movedTo(changed), time.Second); err == nil {
					conn.Close()
					t.Errorf("something listens on the new address %s after a failed reload", tc.movedTo(changed))
				}
			}
		})
	}
}

func rawLines(ls []logLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.raw
	}
	return out
}
