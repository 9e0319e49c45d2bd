package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runCLI(t, nil, "version")
	if code != 0 {
		t.Fatalf("tokengate version: exit %d, stderr %q", code, stderr)
	}
	if !regexp.MustCompile(`^tokengate \S+( \(.*\))?\n$`).MatchString(stdout) {
		t.Fatalf("tokengate version printed %q, want \"tokengate <version>\"", stdout)
	}
}

func TestCLIUnknownCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {}} {
		_, stderr, code := runCLI(t, nil, args...)
		if code != 2 {
			t.Errorf("tokengate %v: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr, "usage") {
			t.Errorf("tokengate %v: stderr %q has no usage", args, stderr)
		}
	}
}

func TestCLIValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", cfg{as: "https://idp.acme.example"}.String())
	stdout, stderr, code := runCLI(t, acmeEnv, "validate", "--config", good)
	if code != 0 || strings.TrimSpace(stdout) != "config OK" {
		t.Fatalf("valid config: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// The same file without the secret's variable is invalid.
	_, stderr, code = runCLI(t, nil, "validate", "--config", good)
	if code != 1 || !strings.Contains(stderr, "E2E_ACME_SECRET") {
		t.Fatalf("unset ${E2E_ACME_SECRET}: exit %d, stderr %q", code, stderr)
	}

	bad := writeFile(t, dir, "bad.yaml", `
grpc:
  address: "127.0.0.1:0"
  bogus: 1
tenants:
  - name: Acme_Bad
    introspection:
      url: "https://idp.example/introspect"
      client_id: a
      client_secret: "${E2E_SURELY_UNSET_VARIABLE}"
routes:
  - name: r
    tenant: nosuch
`)
	stdout, stderr, code = runCLI(t, nil, "validate", "--config", bad)
	if code != 1 {
		t.Fatalf("invalid config: exit %d, want 1 (stdout %q)", code, stdout)
	}
	if strings.Contains(stdout, "config OK") {
		t.Fatalf("invalid config: stdout %q", stdout)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	// Every error, each on a line of its own.
	for _, want := range []string{"bogus", "Acme_Bad", "E2E_SURELY_UNSET_VARIABLE", "nosuch"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("invalid config: %d stderr lines mention %q, want 1; stderr:\n%s", n, want, stderr)
		}
	}
	if len(lines) < 4 {
		t.Errorf("invalid config: %d error lines, want one per error (4); stderr:\n%s", len(lines), stderr)
	}
	// Each error says where it is; a misspelt key gets a suggestion.
	if !slices.Contains(lines, "grpc.bogus: unknown key (line 4, column 3)") {
		t.Errorf("no line and column for grpc.bogus; stderr:\n%s", stderr)
	}
	typo := writeFile(t, dir, "typo.yaml", strings.Replace(cfg{as: "https://idp.acme.example"}.String(),
		"    audiences: [", "    audience: [", 1))
	_, stderr, code = runCLI(t, acmeEnv, "validate", "--config", typo)
	if code != 1 || !strings.Contains(stderr, `tenants[0].audience: unknown key, did you mean "audiences"? (line `) {
		t.Errorf("misspelt key: exit %d, stderr %q", code, stderr)
	}

	// The admin API off loopback needs TLS.
	exposed := writeFile(t, dir, "admin.yaml", cfg{as: "https://idp.acme.example",
		extra: "admin:\n  address: \"0.0.0.0:9901\"\n  token: \"" + strings.Repeat("a", 32) + "\"\n"}.String())
	_, stderr, code = runCLI(t, acmeEnv, "validate", "--config", exposed)
	if code != 1 || !strings.Contains(stderr, "admin.address") {
		t.Errorf("admin.address 0.0.0.0 without admin.tls: exit %d, stderr %q; want 1 naming admin.address", code, stderr)
	}
	loopback := writeFile(t, dir, "admin-loopback.yaml", cfg{as: "https://idp.acme.example",
		extra: "admin:\n  address: \"127.0.0.1:9901\"\n  token: \"" + strings.Repeat("a", 32) + "\"\n"}.String())
	if stdout, stderr, code := runCLI(t, acmeEnv, "validate", "--config", loopback); code != 0 {
		t.Errorf("admin on loopback: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	_, _, code = runCLI(t, nil, "validate", "--config", filepath.Join(dir, "missing.yaml"))
	if code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}

// explanation is what `tokengate check` prints.
type explanation struct {
	Decision        string            `json:"decision"`
	Status          int               `json:"status"`
	Reason          string            `json:"reason"`
	Tenant          string            `json:"tenant"`
	Route           string            `json:"route"`
	WWWAuthenticate string            `json:"www_authenticate"`
	HeadersSet      map[string]string `json:"headers_set"`
	HeadersRemoved  []string          `json:"headers_to_remove"`
	Cache           string            `json:"cache"`
	Body            map[string]string `json:"body"`
}

func TestCLICheck(t *testing.T) {
	t.Parallel()
	as, dir, path := acmeConfigFile(t)
	as.Claims("good-cli", goodClaims(map[string]any{"username": "alice"}))
	tokenFile := writeFile(t, dir, "token", "good-cli\n")

	cases := []struct {
		name     string
		args     []string
		code     int
		decision string
		status   int
		reason   string
	}{
		{"allow", []string{"--host", "orders.acme.example", "--path", "/orders/1", "--token", "good-cli"}, 0, "allow", 200, "allowed"},
		{"allow token file", []string{"--host", "orders.acme.example", "--path", "/orders/1", "--token-file", tokenFile}, 0, "allow", 200, "allowed"},
		{"deny inactive", []string{"--host", "orders.acme.example", "--path", "/orders/1", "--token", "unknown-cli"}, 1, "deny", 401, "inactive"},
		{"deny scope", []string{"--method", "POST", "--host", "orders.acme.example", "--path", "/orders", "--token", "good-cli"}, 1, "deny", 403, "insufficient_scope"},
		{"deny no token", []string{"--host", "orders.acme.example", "--path", "/orders/1"}, 1, "deny", 401, "missing_token"},
		{"deny no route", []string{"--host", "elsewhere.example", "--path", "/x", "--token", "good-cli"}, 1, "deny", 403, "no_route"},
		{"route by name", []string{"--route", "health", "--path", "/anything"}, 0, "allow", 200, "public"},
		{"token and host from --header", []string{"--path", "/orders/1", "--header", "Authorization: Bearer good-cli", "--header", "host: orders.acme.example"}, 0, "allow", 200, "allowed"},
		{"malformed token from --header", []string{"--host", "orders.acme.example", "--path", "/orders/1", "--header", "Authorization: Bearer a b"}, 1, "deny", 400, "malformed_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, acmeEnv, append([]string{"check", "--config", path}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, c.code, stdout, stderr)
			}
			var e explanation
			if err := json.Unmarshal([]byte(stdout), &e); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			if e.Decision != c.decision || e.Status != c.status || e.Reason != c.reason {
				t.Fatalf("decision %s %d %s, want %s %d %s\n%s", e.Decision, e.Status, e.Reason, c.decision, c.status, c.reason, stdout)
			}
			if strings.Contains(stdout+stderr, "good-cli") {
				t.Errorf("the token appears in the output:\n%s\n%s", stdout, stderr)
			}
		})
	}

	// The allow explains the headers.
	stdout, _, _ := runCLI(t, acmeEnv, "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--token", "good-cli")
	var e explanation
	if err := json.Unmarshal([]byte(stdout), &e); err != nil {
		t.Fatal(err)
	}
	if e.Tenant != "acme" || e.Route != "orders-read" || e.HeadersSet["x-auth-subject"] != "user-1" ||
		e.HeadersSet["x-auth-username"] != "alice" {
		t.Errorf("allow explanation: %s", stdout)
	}
	// A deny explains the challenge and body.
	stdout, _, _ = runCLI(t, acmeEnv, "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1")
	e = explanation{}
	if err := json.Unmarshal([]byte(stdout), &e); err != nil {
		t.Fatal(err)
	}
	if e.WWWAuthenticate != realm || e.Body["error"] == "" {
		t.Errorf("deny explanation: %s", stdout)
	}
	// The authorization server down: a decision (503), not a command error.
	downPath := writeFile(t, dir, "down.yaml", cfg{as: "http://" + testsupport.FreeAddr(t)}.String())
	stdout, stderr, code := runCLI(t, acmeEnv, "check", "--config", downPath, "--host", "orders.acme.example", "--path", "/orders/1", "--token", "x")
	if code != 1 || !strings.Contains(stdout, `"status": 503`) && !strings.Contains(stdout, `"status":503`) {
		t.Errorf("AS down: exit %d, stdout %s stderr %s", code, stdout, stderr)
	}
}

func TestCLICheckErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", cfg{as: "http://" + testsupport.FreeAddr(t)}.String())
	bad := writeFile(t, dir, "bad.yaml", "tenants: [{name: x, nope: 1}]\n")
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"no config flag", acmeEnv, []string{"check", "--token", "t"}},
		{"missing file", acmeEnv, []string{"check", "--config", filepath.Join(dir, "none.yaml"), "--token", "t"}},
		{"invalid config", acmeEnv, []string{"check", "--config", bad, "--token", "t"}},
		{"unset variable", nil, []string{"check", "--config", good, "--token", "t"}},
		{"token and token file", acmeEnv, []string{"check", "--config", good, "--token", "t", "--token-file", good}},
		{"unreadable token file", acmeEnv, []string{"check", "--config", good, "--token-file", filepath.Join(dir, "none")}},
		{"unknown flag", acmeEnv, []string{"check", "--config", good, "--frob"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.env, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, stdout, stderr)
			}
			if strings.TrimSpace(stderr) == "" {
				t.Fatal("no error on stderr")
			}
		})
	}
}

func TestServeBadConfigExits1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ name, content string }{
		{"unknown key", "grpc: {address: \"127.0.0.1:0\", bogus: 1}\n"},
		{"not yaml", "tenants: [\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".yaml", c.content)
			p := startProcess(t, "tokengate", tokengateBin, baseEnv(),
				"serve", "--config", path, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0")
			if code := p.waitExit(t, 20*time.Second); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if slices.ContainsFunc(p.stderr.lines(), msgIs("serving")) {
				t.Fatal("it logged serving")
			}
			if !strings.Contains(p.stderr.String(), "cannot start") && !strings.Contains(p.stderr.String(), "error") {
				t.Fatalf("no error logged: %s", p.stderr.String())
			}
		})
	}
	missing := startProcess(t, "tokengate", tokengateBin, baseEnv(), "serve", "--config", filepath.Join(dir, "none.yaml"),
		"--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0")
	if code := missing.waitExit(t, 20*time.Second); code != 1 {
		t.Fatalf("missing config file: exit %d, want 1", code)
	}
}
