package app

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func run(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut testlog.Buffer
	code = Main(ctx, Env{Args: args, Stdout: &out, Stderr: &errOut, Version: "v1.2.3"})
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, context.Background(), "version")
	if code != 0 || strings.TrimSpace(out) != "tokengate v1.2.3" {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := run(t, context.Background(), "frobnicate"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestValidateOK(t *testing.T) {
	path := testsupport.WriteConfig(t, testConfig("http://127.0.0.1:1"))
	code, out, errOut := run(t, context.Background(), "validate", "--config", path)
	if code != 0 || strings.TrimSpace(out) != "config OK" {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
}

func TestValidateReportsEveryErrorOneALine(t *testing.T) {
	path := testsupport.WriteConfig(t, `
tenants:
  - name: Bad_Name
    introspection:
      url: "not a url"
      client_id: x
      client_secret: "${TOKENGATE_TEST_UNSET_SECRET}"
routes:
  - name: r
    tenant: nope
`)
	code, out, errOut := run(t, context.Background(), "validate", "--config", path)
	if code != 1 || out != "" {
		t.Fatalf("validate: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) < 4 {
		t.Fatalf("want every error on its own line, got %q", errOut)
	}
	for _, want := range []string{"tenants[0].name", "tenants[0].introspection.url", "TOKENGATE_TEST_UNSET_SECRET", "routes[0].tenant"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in %q", want, errOut)
		}
	}
}

func TestValidateRedisAndAdmin(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1") + "admin:\n  address: 127.0.0.1:0\n  token: " + strings.Repeat("t", 32) + "\n" +
		"redis:\n  address: 127.0.0.1:1\n"
	code, out, errOut := run(t, context.Background(), "validate", "--config", testsupport.WriteConfig(t, cfg))
	if code != 0 || !strings.Contains(out, "config OK") {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
	// An unreadable client certificate is found by validate too.
	cfg += "  tls:\n    cert_file: /nonexistent/cert.pem\n    key_file: /nonexistent/key.pem\n"
	code, _, errOut = run(t, context.Background(), "validate", "--config", testsupport.WriteConfig(t, cfg))
	if code != 1 || !strings.Contains(errOut, "redis.tls") {
		t.Fatalf("validate with a bad redis.tls: %d %q", code, errOut)
	}
}

func TestCheckCommand(t *testing.T) {
	as := newGoodAS(t)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	tokenFile := filepath.Join(t.TempDir(), "token")
	testsupport.WriteFile(t, tokenFile, "good\n")

	code, out, errOut := run(t, context.Background(), "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--token-file", tokenFile)
	if code != 0 {
		t.Fatalf("allow: exit %d: %s %s", code, out, errOut)
	}
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("output is not JSON: %q", out)
	}
	if e.Decision != "allow" || e.Reason != "allowed" || e.Route != "orders-read" || e.HeadersSet["x-auth-subject"] != "user-1" || e.Cache != "miss" {
		t.Errorf("allow explanation: %+v", e)
	}

	code, out, _ = run(t, context.Background(), "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--header", "Authorization: Bearer nope")
	if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Reason != "inactive" || e.Status != 401 || !strings.Contains(e.WWWAuthenticate, `error="invalid_token"`) {
		t.Fatalf("deny: exit %d %q", code, out)
	}
	if strings.Contains(out, "nope") {
		t.Error("the token is printed")
	}

	if code, _, _ := run(t, context.Background(), "check", "--config", testsupport.WriteConfig(t, "nope: 1\n")); code != 2 {
		t.Fatalf("bad config: exit %d, want 2", code)
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		code, out, errOut := run(t, context.Background(), args...)
		if code != 0 || errOut != "" {
			t.Fatalf("tokengate %v: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.Contains(out, "usage: tokengate COMMAND") {
			t.Errorf("tokengate %v: no usage line in %q", args, out)
		}
		for _, c := range append(commands(), &command{name: "help", summary: "print this help"}) {
			// One line per command: its name, then its one-line description.
			if !regexp.MustCompile(`(?m)^  ` + c.name + ` +` + regexp.QuoteMeta(c.summary)).MatchString(out) {
				t.Errorf("tokengate %v: no line for %s (%q) in:\n%s", args, c.name, c.summary, out)
			}
		}
	}
	// Without a command: a usage error.
	if code, out, errOut := run(t, context.Background()); code != 2 || out != "" || !strings.Contains(errOut, "usage: tokengate COMMAND") {
		t.Fatalf("tokengate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		cases := [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}}
		if fs.Lookup("config") != nil {
			cases = append(cases, []string{c.name, "--config", "x", "--help"}) // help wins over running
		}
		for _, args := range cases {
			code, out, errOut := run(t, context.Background(), args...)
			if code != 0 || errOut != "" {
				t.Fatalf("tokengate %v: exit %d, stderr %q", args, code, errOut)
			}
			if !strings.HasPrefix(out, "usage: tokengate "+c.name) {
				t.Errorf("tokengate %v: help does not start with its usage line: %q", args, out)
			}
			for _, section := range []string{"\n\nFlags:\n", "\n\nExamples:\n", "\n\nExit codes:\n", "  -h, --help "} {
				if !strings.Contains(out, section) {
					t.Errorf("tokengate %v: help lacks %q:\n%s", args, section, out)
				}
			}
			if len(strings.TrimSpace(c.description)) < 40 {
				t.Errorf("%s: no description", c.name)
			}
			fs.VisitAll(func(f *flag.Flag) {
				if !regexp.MustCompile(`(?m)^  --` + f.Name + `\b.*\S`).MatchString(out) {
					t.Errorf("tokengate %v: help lacks flag --%s:\n%s", args, f.Name, out)
				}
			})
			for _, code := range []string{"0", "2"} {
				if !regexp.MustCompile(`(?m)^  ` + code + `  \S`).MatchString(out) {
					t.Errorf("tokengate %v: help does not explain exit code %s", args, code)
				}
			}
		}
		// Every example is a valid command line for the command.
		if len(c.examples) == 0 {
			t.Errorf("%s: no examples", c.name)
		}
		for _, ex := range c.examples {
			words := shellWords(t, ex)
			for len(words) > 0 && strings.Contains(words[0], "=") {
				words = words[1:] // VAR=value before the command
			}
			if len(words) < 2 || words[0] != "tokengate" || words[1] != c.name {
				t.Errorf("%s: example %q does not run tokengate %s", c.name, ex, c.name)
				continue
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.flags(fs)
			if err := fs.Parse(words[2:]); err != nil || fs.NArg() > 0 {
				t.Errorf("%s: example %q: %v %v", c.name, ex, err, fs.Args())
			}
		}
	}
}

// shellWords splits a command line on spaces, keeping "double-quoted"
// words together and dropping a trailing # comment.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == '#' && !quoted && !inWord:
			return words
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"serve", "--bogus"}, "unknown flag --bogus"},
		{[]string{"serve"}, "--config is required"},
		{[]string{"serve", "--config", "x.yaml", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "--config", "x.yaml", "--drain-timeout", "soon"}, "drain-timeout"},
		{[]string{"validate"}, "--config is required"},
		{[]string{"validate", "x.yaml"}, `unexpected argument "x.yaml"`},
		{[]string{"check", "--config", "x.yaml", "--token", "a", "--token-file", "b"}, "exclude each other"},
		{[]string{"check", "--config", "x.yaml", "--header", "no colon"}, "--header"},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"help", "nope"}, `unknown command "nope"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		code, out, errOut := run(t, context.Background(), c.args...)
		if code != 2 || out != "" {
			t.Errorf("tokengate %v: exit %d, stdout %q; want 2 and nothing on stdout", c.args, code, out)
		}
		if !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "usage: tokengate") {
			t.Errorf("tokengate %v: stderr %q lacks %q or the usage line", c.args, errOut, c.want)
		}
	}
}

func TestVersionLine(t *testing.T) {
	const full = "0d3bd1f2a9c4e5f60718293a4b5c6d7e8f901234"
	for _, c := range []struct{ version, commit, date, want string }{
		{"v0.1.0", full, "2026-12-01T00:00:00Z", "v0.1.0 (commit 0d3bd1f2a9c4, built 2026-12-01T00:00:00Z)"},
		{"v0.1.0", "abc1234", "", "v0.1.0 (commit abc1234)"},
		{"v0.1.0", "", "2026-12-01T00:00:00Z", "v0.1.0 (built 2026-12-01T00:00:00Z)"},
		// A version set without commit and date prints just that (the
		// Dockerfile's build in `make image-check`).
		{"check", "", "", "check"},
	} {
		if got := versionLine(c.version, c.commit, c.date); got != c.want {
			t.Errorf("versionLine(%q, %q, %q) = %q, want %q", c.version, c.commit, c.date, got, c.want)
		}
	}
	var out testlog.Buffer
	code := Main(context.Background(), Env{Args: []string{"version"}, Stdout: &out, Stderr: &out,
		Version: "v0.1.0", Commit: full, Date: "2026-12-01T00:00:00Z"})
	if code != 0 || out.String() != "tokengate v0.1.0 (commit 0d3bd1f2a9c4, built 2026-12-01T00:00:00Z)\n" {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

// The cause of an introspection_error is in check's JSON, not only in a
// warn line: the authorization server's status and OAuth error, or the
// connection failure. Never the token or the client secret.
func TestCheckCommandSaysWhyIntrospectionFailed(t *testing.T) {
	as := introspectiontest.New(t)
	as.Raw("tok-badclient", http.StatusUnauthorized, `{"error":"invalid_client","error_description":"s3cret%value is wrong"}`)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	down := introspectiontest.NewServer()
	down.Close() // nothing listens there any more
	downPath := testsupport.WriteConfig(t, testConfig(down.URL))
	for _, c := range []struct {
		name, config, token, cause, hint string
	}{
		{"wrong client secret", path, "tok-badclient", `authorization server answered 401 (error "invalid_client")`, "client_secret"},
		{"server down", downPath, "tok-down", "connection refused", "nothing listens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, context.Background(), "check", "--config", c.config,
				"--host", "orders.acme.example", "--path", "/orders/1", "--token", c.token)
			var e explanation
			if code != 1 || json.Unmarshal([]byte(out), &e) != nil {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if e.Reason != "introspection_error" || e.Status != 503 || !strings.Contains(e.Cause, c.cause) || !strings.Contains(e.Hint, c.hint) {
				t.Errorf("want reason introspection_error, cause with %q, hint with %q:\n%s", c.cause, c.hint, out)
			}
			for _, secret := range []string{c.token, "s3cret", "is wrong"} {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("%q printed:\n%s\n%s", secret, out, errOut)
				}
			}
		})
	}
	// Not an introspection error: no cause.
	as.Claims("good", goodClaims(nil))
	_, out, _ := run(t, context.Background(), "check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1", "--token", "good")
	if strings.Contains(out, `"cause"`) || strings.Contains(out, `"hint"`) {
		t.Errorf("an allow has a cause:\n%s", out)
	}
}

// --explain puts the token's value beside the expected one for denies
// decided on the claims; without it, no explain member.
func TestCheckCommandExplain(t *testing.T) {
	as := introspectiontest.New(t)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	exp := time.Now().Add(-time.Hour).Truncate(time.Second)
	as.Claims("tok-aud", goodClaims(map[string]any{"aud": []string{"api://x", "api://y"}}))
	as.Claims("tok-iss", goodClaims(map[string]any{"iss": "https://idp.acme.example/"}))
	as.Claims("tok-scope", goodClaims(map[string]any{"scope": "profile"}))
	as.Claims("tok-write", goodClaims(nil)) // orders.read but not orders.write
	as.Claims("tok-reports", goodClaims(map[string]any{"aud": "api://reports", "scope": "orders.read"}))
	as.Claims("tok-type", goodClaims(map[string]any{"token_type": "refresh_token"}))
	as.Claims("tok-exp", goodClaims(map[string]any{"exp": exp.Unix()}))
	as.Claims("tok-nbf", goodClaims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))
	for _, c := range []struct {
		token, method, path, reason, key string
		want                             explainItem
	}{
		{"tok-aud", "GET", "/orders/1", "audience", "audience", explainItem{Token: []any{"api://x", "api://y"}, Expected: []any{"api://orders"}}},
		{"tok-iss", "GET", "/orders/1", "issuer", "issuer", explainItem{Token: "https://idp.acme.example/", Expected: "https://idp.acme.example"}},
		{"tok-scope", "GET", "/orders/1", "insufficient_scope", "scope", explainItem{Token: []any{"profile"}, Expected: []any{"orders.read"}, Missing: []string{"orders.read"}}},
		{"tok-write", "POST", "/orders", "insufficient_scope", "scope", explainItem{Token: []any{"orders.read", "profile"}, Expected: []any{"orders.read", "orders.write"}, Missing: []string{"orders.write"}}},
		{"tok-reports", "GET", "/reports/q1", "insufficient_scope", "scope", explainItem{Token: []any{"orders.read"}, Expected: []any{"reports.view", "reports.admin"}}},
		{"tok-type", "GET", "/orders/1", "token_type", "token_type", explainItem{Token: "refresh_token", Expected: []any{"Bearer", "DPoP", "access_token"}}},
		{"tok-exp", "GET", "/orders/1", "expired", "expired", explainItem{Token: exp.UTC().Format(time.RFC3339)}},
		{"tok-nbf", "GET", "/orders/1", "not_yet_valid", "not_yet_valid", explainItem{}},
		{"tok-unknown", "GET", "/orders/1", "inactive", "inactive", explainItem{Token: false, Expected: true}},
	} {
		t.Run(c.token, func(t *testing.T) {
			args := []string{"check", "--config", path, "--method", c.method, "--host", "orders.acme.example", "--path", c.path, "--token", c.token}
			code, out, errOut := run(t, context.Background(), append(args, "--explain")...)
			var e explanation
			if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Reason != c.reason {
				t.Fatalf("exit %d, want 1 and reason %s: %s %s", code, c.reason, out, errOut)
			}
			got, ok := e.Explain[c.key]
			if !ok || len(e.Explain) != 1 || got.Rule == "" {
				t.Fatalf("want explain.%s with a rule:\n%s", c.key, out)
			}
			if c.want.Token != nil && !reflect.DeepEqual(got.Token, c.want.Token) {
				t.Errorf("explain.%s.token = %#v, want %#v", c.key, got.Token, c.want.Token)
			}
			if c.want.Expected != nil && !reflect.DeepEqual(got.Expected, c.want.Expected) {
				t.Errorf("explain.%s.expected = %#v, want %#v", c.key, got.Expected, c.want.Expected)
			}
			if !reflect.DeepEqual(got.Missing, c.want.Missing) {
				t.Errorf("explain.%s.missing = %#v, want %#v", c.key, got.Missing, c.want.Missing)
			}
			if strings.Contains(out, c.token) {
				t.Error("the token is printed")
			}
			// Without --explain: the same decision, no explain member.
			_, out, _ = run(t, context.Background(), args...)
			if strings.Contains(out, `"explain"`) {
				t.Errorf("explain without --explain:\n%s", out)
			}
		})
	}
	// An allow, and a deny not decided on claims, have nothing to explain.
	as.Claims("good", goodClaims(nil))
	for _, args := range [][]string{
		{"--path", "/orders/1", "--token", "good"},
		{"--path", "/orders/1"},
		{"--path", "/nowhere", "--token", "good"},
	} {
		_, out, _ := run(t, context.Background(), append([]string{"check", "--config", path, "--host", "orders.acme.example", "--explain"}, args...)...)
		if strings.Contains(out, `"explain"`) {
			t.Errorf("check %v --explain explains:\n%s", args, out)
		}
	}
}
