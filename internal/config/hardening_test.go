package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 12 (hardening, round 2): the circuit_breaker section (item 1) and
// the admin listener's rules (item 10). The invalid fixtures
// (testdata/invalid/breaker_*.yaml, admin_*.yaml) cover one failure each.

const hardeningTenant = `
tenants:
  - name: acme
    introspection: {url: "https://idp.example/i", auth_method: none}
%s
routes: [{name: r, tenant: acme}]
`

func TestCircuitBreakerSection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       CircuitBreaker
	}{
		{"absent", "", DefaultCircuitBreaker()},
		{"null", "    circuit_breaker: ~", DefaultCircuitBreaker()},
		{"disabled", "    circuit_breaker: {enabled: false}", func() CircuitBreaker {
			c := DefaultCircuitBreaker()
			c.Enabled = false
			return c
		}()},
		{"every key", "    circuit_breaker: {enabled: true, consecutive_failures: 1, failure_ratio: 1, min_calls: 1, window: 500ms, cool_down: 1m}",
			CircuitBreaker{Enabled: true, ConsecutiveFailures: 1, FailureRatio: 1, MinCalls: 1, Window: 500 * time.Millisecond, CoolDown: time.Minute}},
		{"ratio as a float", "    circuit_breaker: {failure_ratio: 0.25}", func() CircuitBreaker {
			c := DefaultCircuitBreaker()
			c.FailureRatio = 0.25
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(fmt.Sprintf(hardeningTenant, tc.yaml)), nil, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "circuit_breaker", cfg.Tenants[0].CircuitBreaker, tc.want)
		})
	}
	// The defaults are the contract's: 5 / 0.5 / 20 / 10s / 5s, on.
	checkEqual(t, "defaults", DefaultCircuitBreaker(), CircuitBreaker{
		Enabled: true, ConsecutiveFailures: 5, FailureRatio: 0.5, MinCalls: 20, Window: 10 * time.Second, CoolDown: 5 * time.Second,
	})
}

func TestAdminAddressAndToken(t *testing.T) {
	const longToken = "0123456789abcdef0123456789abcdef" // exactly 32
	tlsBlock := "\n  tls: {cert_file: ../files/server_cert.pem, key_file: ../files/server_key.pem}"
	for _, tc := range []struct {
		address, token, extra string
		want                  string // "" = valid
	}{
		{"127.0.0.1:8282", longToken, "", ""},
		{"127.10.20.30:8282", longToken, "", ""},
		{"[::1]:8282", longToken, "", ""},
		{"localhost:8282", longToken, "", ""},
		{"LOCALHOST:0", longToken, "", ""},
		{"0.0.0.0:8282", longToken, "", "admin.address: \"0.0.0.0:8282\" is not a loopback address"},
		{":8282", longToken, "", "is not a loopback address"},
		{"[::]:8282", longToken, "", "is not a loopback address"},
		{"10.0.0.7:8282", longToken, "", "is not a loopback address"},
		{"admin.internal:8282", longToken, "", "is not a loopback address"},
		{"0.0.0.0:8282", longToken, tlsBlock, ""},
		{"127.0.0.1:8282", longToken[:31], "", "admin.token: must be at least 32 characters"},
		{"127.0.0.1:8282", strings.Repeat("é", 32), "", ""}, // characters, not bytes
		{"127.0.0.1:8282", strings.Repeat("é", 31), "", "admin.token: must be at least 32 characters"},
	} {
		t.Run(tc.address+"/"+fmt.Sprint(len(tc.token)), func(t *testing.T) {
			src := fmt.Sprintf(hardeningTenant, "") + fmt.Sprintf("admin:\n  address: %q\n  token: %q", tc.address, tc.token) + tc.extra + "\n"
			cfg, err := Parse([]byte(src), nil, mustAbs(t, "testdata/invalid"))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (cfg.Admin.TLS != nil) != (tc.extra != "") {
					t.Errorf("admin.tls: %+v", cfg.Admin.TLS)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if n := len(errorLines(err)); n != 1 {
				t.Errorf("%d errors, want 1: %v", n, err)
			}
		})
	}
}

// TestAdminTokenNeverInErrors: a short token (from the environment or
// written in the file) is not quoted, nor is its length given.
func TestAdminTokenNeverInErrors(t *testing.T) {
	const short = "short-admin-secret-3f9a"
	env := func(name string) (string, bool) { return short, name == "TOKEN" }
	for _, token := range []string{"${TOKEN}", short} {
		src := fmt.Sprintf(hardeningTenant, "") + fmt.Sprintf("admin:\n  address: \"127.0.0.1:1\"\n  token: %q\n", token)
		_, err := Parse([]byte(src), env, t.TempDir())
		if err == nil {
			t.Fatal("no error for a short token")
		}
		if msg := err.Error(); strings.Contains(msg, short) || strings.Contains(msg, fmt.Sprint(len(short))) {
			t.Errorf("error reveals the token or its length: %v", err)
		}
	}
}

func mustAbs(t *testing.T, dir string) string {
	t.Helper()
	p, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
