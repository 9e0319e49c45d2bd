package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// testEnv is the environment of every fixture.
var testEnv = map[string]string{
	"ACME_SECRET":           "acme-secret-value-4b1d",
	"REDIS_PASSWORD":        "redis-password-value-9c2e",
	"TOKENGATE_ADMIN_TOKEN": "admin-token-value-5e8f-7c1d9a0b3e6f4a2d", // >= 32 characters
	"EMPTY":                 "",
	"SKIP_VERIFY":           "true",
	"MAX_ENTRIES":           "5000",
	"SHORT_CACHE_KEY":       "short-cache-key-6d1e", // < 32 bytes
	"TOKENGATE_CACHE_KEY":   "cache-signing-key-value-8e4a-2f9c1b7d5a3e",
}

// secrets must never appear in an error message.
var secrets = []string{
	"acme-secret-value-4b1d", "redis-password-value-9c2e", "admin-token-value-5e8f",
	"file-secret-value-7f3a", "header-secret-value-3a9b", "url-password-value",
	"static-gateway-value", "BEGIN", "PRIVATE KEY",
	"short-cache-key-6d1e", "cache-signing-key-value-8e4a",
}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// parseFixture parses a file under testdata with testEnv and the file's
// own directory as baseDir.
func parseFixture(t *testing.T, name string) (*Config, error) {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(data, lookupTestEnv, filepath.Dir(path))
}

// errorLines returns the joined errors one by one.
func errorLines(err error) []string {
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range j.Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

// checkNoSecrets fails when a known secret value appears in err.
func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error reveals secret %q:\n%v", s, err)
		}
	}
}

// locationRE is "<location>: <message>": a path such as
// tenants[0].introspection.url, headers["X Y"], a line number or "document".
var locationRE = regexp.MustCompile(`^(line \d+|[a-z_]+(\.[A-Za-z0-9_-]+|\[\d+\]|\["[^"]*"\])*): \S`)

// TestInvalidFixtures parses every testdata/invalid/*.yaml. Its leading
// "# want: <substring>" lines must each match the error, and "# errors: N"
// gives the exact number of errors.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 35 {
		t.Fatalf("only %d invalid fixtures", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			count := -1
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				} else if c, ok := strings.CutPrefix(line, "# errors: "); ok {
					if count, err = strconv.Atoi(c); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			cfg, err := parseFixture(t, filepath.Join("invalid", name+".yaml"))
			if err == nil {
				t.Fatalf("no error; want %q", wants)
			}
			if cfg != nil {
				t.Error("a *Config was returned with an error")
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			lines := errorLines(err)
			if count >= 0 && len(lines) != count {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), count, err)
			}
			for _, l := range lines {
				if !locationRE.MatchString(l) || strings.Contains(l, "\n") {
					t.Errorf("error %q is not one \"<location>: <message>\" line", l)
				}
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestEmptyInput(t *testing.T) {
	for _, in := range []string{"", "\n", "---\n", "# just a comment\n"} {
		_, err := Parse([]byte(in), nil, "")
		if err == nil {
			t.Fatalf("Parse(%q): no error", in)
		}
		for _, w := range []string{"routes: no routes configured", "tenants: no tenants configured"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) = %v, want %q", in, err, w)
			}
		}
	}
}

// TestSecretsNeverInErrors breaks every field near a secret at once.
func TestSecretsNeverInErrors(t *testing.T) {
	src := `
tenants:
  - name: acme
    leeway: ${ACME_SECRET}
    introspection:
      url: "https://user:url-password-value@idp.example/introspect#frag"
      auth_method: none
      client_secret: ${ACME_SECRET}
      client_secret_file: ../files/client_secret.txt
      private_key_file: ../files/rsa_key.pem
      insecure_skip_verify: ${ACME_SECRET}
      timeout: ${REDIS_PASSWORD}
      headers:
        "X-Key": "header-secret-value-3a9b\n"
        "Authorization": "Bearer header-secret-value-3a9b"
    cache: {max_entries: "${ACME_SECRET}"}
routes:
  - {name: r, tenant: acme}
redis:
  address: "127.0.0.1:6379"
  password: ${REDIS_PASSWORD}
  db: ${REDIS_PASSWORD}
  timeout: ${REDIS_PASSWORD}
admin:
  token: ${TOKENGATE_ADMIN_TOKEN}
  address: ${TOKENGATE_ADMIN_TOKEN}
`
	dir, _ := filepath.Abs(filepath.Join("testdata", "invalid"))
	_, err := Parse([]byte(src), lookupTestEnv, dir)
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(errorLines(err)); n < 8 {
		t.Errorf("got %d errors, want at least 8:\n%v", n, err)
	}
	checkNoSecrets(t, err)
}
