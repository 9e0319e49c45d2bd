package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRelativeFiles loads a config whose client_secret_file is relative:
// it is found next to the config file, not in the working directory.
func TestLoadRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "etc", "secrets", "acme"), "\n\t  from-file-secret  \r\n\n")
	writeFile(t, filepath.Join(dir, "etc", "tokengate.yaml"), `
tenants:
  - name: acme
    introspection:
      url: https://idp.acme.example/introspect
      client_id: ${TG_TEST_CLIENT_ID}
      client_secret_file: secrets/acme
routes: [{name: r, tenant: acme}]
`)
	t.Setenv("TG_TEST_CLIENT_ID", "rs-from-env")
	t.Chdir(t.TempDir()) // somewhere else
	cfg, err := Load(filepath.Join(dir, "etc", "tokengate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Tenants[0].Introspection
	if in.ClientSecret != "from-file-secret" {
		t.Errorf("ClientSecret = %q, want the trimmed file content", in.ClientSecret)
	}
	if in.ClientID != "rs-from-env" {
		t.Errorf("ClientID = %q, want it from the environment", in.ClientID)
	}
}

// TestLoadRelativeConfigPath uses a relative path to the config file: the
// files it names are still resolved against its directory, and the stored
// paths are absolute (so a reload after a chdir finds them too).
func TestLoadRelativeConfigPath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "conf", "ca.pem"), mustRead(t, testFile(t, "ca.pem")))
	writeFile(t, filepath.Join(dir, "conf", "tokengate.yaml"), `
tenants:
  - name: acme
    introspection: {url: "https://idp.example/i", auth_method: none, ca_file: ca.pem}
routes: [{name: r, tenant: acme}]
`)
	t.Chdir(dir)
	cfg, err := Load(filepath.Join("conf", "tokengate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Tenants[0].Introspection.CAFile
	if !filepath.IsAbs(got) || filepath.Base(got) != "ca.pem" {
		t.Errorf("CAFile = %q, want an absolute path to conf/ca.pem", got)
	}
	if _, err := os.Stat(got); err != nil {
		t.Error(err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadSecretFileNotInErrors(t *testing.T) {
	dir := t.TempDir()
	// A secret file with a content that is not a secret's (a PEM key, say)
	// is not the config's business; but its content must never be shown.
	writeFile(t, filepath.Join(dir, "secret"), "file-secret-value-7f3a")
	writeFile(t, filepath.Join(dir, "c.yaml"), `
tenants:
  - name: acme
    introspection:
      url: https://idp.acme.example/introspect
      client_id: rs
      client_secret_file: secret
      auth_method: client_secret_post
      timeout: -1s
routes: [{name: r, tenant: nope}]
`)
	_, err := Load(filepath.Join(dir, "c.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	checkNoSecrets(t, err)
	if n := len(errorLines(err)); n != 2 {
		t.Errorf("got %d errors, want 2:\n%v", n, err)
	}
}

func TestErrorsInFileOrder(t *testing.T) {
	_, err := parseFixture(t, "invalid/multiple_errors.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"http.forwarded_headers:",
		"tenants[0].leeway:",
		"tenants[0].introspection.urll:",
		"tenants[0].introspection.client_secret:",
		"routes[0].tenant:",
		"routes[1].name:",
		"routes[1].path_prefix:",
	}
	lines := errorLines(err)
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	if strings.Count(err.Error(), "\n") != len(want)-1 {
		t.Errorf("want one error per line:\n%v", err)
	}
}

// TestConfigNotShared checks that two loads share no slices or maps, so
// that a reload can never change a snapshot in use.
func TestConfigNotShared(t *testing.T) {
	a := mustParseFixture(t, "valid/full.yaml")
	b := mustParseFixture(t, "valid/full.yaml")
	a.Tenants[0].TokenTypes[0] = "changed"
	a.Tenants[1].Introspection.Headers["X-Tenant"] = "changed"
	if b.Tenants[0].TokenTypes[0] != "Bearer" || b.Tenants[1].Introspection.Headers["X-Tenant"] != "globex" {
		t.Error("two loads share state")
	}
	c := mustParseFixture(t, "valid/minimal.yaml")
	c.Tenants[0].TokenTypes[0] = "changed"
	if DefaultTokenTypes()[0] != "Bearer" {
		t.Error("the default token types are shared")
	}
}
