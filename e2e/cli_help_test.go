package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/testsupport"
)

// commandFlags are the flags each command's --help must list.
var commandFlags = map[string][]string{
	"serve":    {"config", "grpc-address", "http-address", "log-level", "drain-timeout"},
	"validate": {"config"},
	"check":    {"config", "host", "method", "path", "route", "header", "token", "token-file", "explain"},
	"version":  nil,
}

func TestCLIHelpListsCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		stdout, stderr, code := runCLI(t, nil, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("tokengate %v: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr)
		}
		for _, name := range []string{"serve", "validate", "check", "version", "help"} {
			// One line per command: its name, then a one-line description.
			if !regexp.MustCompile(`(?m)^\s+` + name + `\s+\S.*$`).MatchString(stdout) {
				t.Errorf("tokengate %v: no line describing %s in:\n%s", args, name, stdout)
			}
		}
	}
}

func TestCLICommandHelp(t *testing.T) {
	t.Parallel()
	for name, flags := range commandFlags {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			stdout, stderr, code := runCLI(t, nil, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("tokengate %v: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr)
			}
			if !strings.HasPrefix(stdout, "usage: tokengate "+name) {
				t.Errorf("tokengate %v: help does not begin with the usage line:\n%s", args, stdout)
			}
			for _, section := range []string{"Flags:", "Examples:", "Exit codes:"} {
				if !regexp.MustCompile(`(?m)^` + section + `$`).MatchString(stdout) {
					t.Errorf("tokengate %v: no %q section:\n%s", args, section, stdout)
				}
			}
			for _, f := range flags {
				if !regexp.MustCompile(`(?m)^\s+--` + f + `\b.*\S`).MatchString(stdout) {
					t.Errorf("tokengate %v: flag --%s not described:\n%s", args, f, stdout)
				}
			}
			if !regexp.MustCompile(`(?m)^\s+0\s+\S`).MatchString(stdout) || !regexp.MustCompile(`(?m)^\s+2\s+\S`).MatchString(stdout) {
				t.Errorf("tokengate %v: exit codes 0 and 2 not explained:\n%s", args, stdout)
			}
		}
	}
}

func TestCLIUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--bogus"},
		{"serve", "--config", "x.yaml", "--log-level", "loud"},
		{"validate", "x.yaml"},
		{"check", "--config", "x.yaml", "--token", "a", "--token-file", "b"},
		{"version", "extra"},
		{"help", "nope"},
	} {
		stdout, stderr, code := runCLI(t, nil, args...)
		if code != 2 || stdout != "" {
			t.Errorf("tokengate %v: exit %d, stdout %q; want 2 and nothing on stdout", args, code, stdout)
		}
		if !strings.Contains(stderr, "usage: tokengate") {
			t.Errorf("tokengate %v: stderr %q has no usage line", args, stderr)
		}
	}
}

// tokengate check says why introspection failed, in its JSON, without the
// token or the secret; --explain shows the token's value beside the
// expected one.
func TestCLICheckCauseAndExplain(t *testing.T) {
	t.Parallel()
	as, dir, path := acmeConfigFile(t)
	as.Claims("billing-cli", goodClaims(map[string]any{"aud": "api://billing"}))
	type out struct {
		Reason  string                     `json:"reason"`
		Status  int                        `json:"status"`
		Cause   string                     `json:"cause"`
		Explain map[string]json.RawMessage `json:"explain"`
	}
	checkJSON := func(env []string, args ...string) (out, string) {
		t.Helper()
		args = append([]string{"check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1"}, args...)
		stdout, stderr, code := runCLI(t, env, args...)
		var o out
		if code != 1 || json.Unmarshal([]byte(stdout), &o) != nil {
			t.Fatalf("tokengate %v: exit %d, want 1 and JSON; stdout %s stderr %s", args, code, stdout, stderr)
		}
		return o, stdout + stderr
	}

	const wrong = "E2E_ACME_SECRET=not-the-secret-e2e"
	o, all := checkJSON([]string{wrong}, "--token", "billing-cli")
	if o.Reason != "introspection_error" || o.Status != 503 || !strings.Contains(o.Cause, `401 (error "invalid_client")`) {
		t.Errorf("wrong client secret: %+v", o)
	}
	for _, secret := range []string{"billing-cli", "not-the-secret-e2e"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q printed:\n%s", secret, all)
		}
	}

	downPath := writeFile(t, dir, "down.yaml", cfg{as: "http://" + testsupport.FreeAddr(t)}.String())
	stdout, _, code := runCLI(t, acmeEnv, "check", "--config", downPath, "--host", "orders.acme.example", "--path", "/orders/1", "--token", "x-cli")
	var down out
	if code != 1 || json.Unmarshal([]byte(stdout), &down) != nil || !strings.Contains(down.Cause, "connection refused") {
		t.Errorf("server down: exit %d: %s", code, stdout)
	}

	o, _ = checkJSON(acmeEnv, "--token", "billing-cli", "--explain")
	var aud struct {
		Token    []string `json:"token"`
		Expected []string `json:"expected"`
	}
	if o.Reason != "audience" || json.Unmarshal(o.Explain["audience"], &aud) != nil ||
		strings.Join(aud.Token, ",") != "api://billing" || strings.Join(aud.Expected, ",") != "api://orders" {
		t.Errorf("--explain on an audience deny: %+v (%s)", o, o.Explain["audience"])
	}
	if o, _ = checkJSON(acmeEnv, "--token", "billing-cli"); o.Explain != nil {
		t.Errorf("explain without --explain: %+v", o)
	}
}
