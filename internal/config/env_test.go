package config

import (
	"strings"
	"testing"
	"time"
)

// envConfig is a valid config whose values come from the environment.
const envConfig = `
grpc:
  address: "${BIND}:9191"
tenants:
  - name: acme
    introspection:
      url: "https://${IDP_HOST}/oauth2/introspect?x=${EMPTY}"
      client_id: ${CLIENT_ID}
      client_secret: ${SECRET}
      insecure_skip_verify: ${SKIP}
      timeout: ${TIMEOUT}
      headers:
        X-Literal: "cost: $$5, $${NOT_EXPANDED} $HOME $"
    cache:
      max_entries: ${ENTRIES}
    strip_authorization: ${STRIP}
routes:
  - name: r
    tenant: acme
    hosts: ["${SUB}.example.com"]
`

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func baseEnv() map[string]string {
	return map[string]string{
		"BIND": "0.0.0.0", "IDP_HOST": "idp.acme.example", "EMPTY": "", "CLIENT_ID": "rs-acme",
		"SECRET": "s3cr3t: {not: yaml}\n- [x]", "SKIP": "true", "TIMEOUT": "1500ms",
		"ENTRIES": "42", "STRIP": "TRUE", "SUB": "Orders",
	}
}

func TestEnvExpansion(t *testing.T) {
	cfg, err := Parse([]byte(envConfig), envFrom(baseEnv()), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tn := cfg.Tenants[0]
	in := tn.Introspection
	checks := []struct {
		what      string
		got, want any
	}{
		{"grpc address inside a longer string", cfg.GRPC.Address, "0.0.0.0:9191"},
		{"url with two variables, one empty", in.URL, "https://idp.acme.example/oauth2/introspect?x="},
		{"plain string", in.ClientID, "rs-acme"},
		{"value with YAML syntax stays one string", in.ClientSecret, "s3cr3t: {not: yaml}\n- [x]"},
		{"bool", in.InsecureSkipVerify, true},
		{"bool TRUE", tn.StripAuthorization, true},
		{"duration", in.Timeout, 1500 * time.Millisecond},
		{"int", tn.Cache.MaxEntries, 42},
		{"escape $${ and lone $", in.Headers["X-Literal"], "cost: $$5, ${NOT_EXPANDED} $HOME $"},
		{"host lowercased after expansion", cfg.Routes[0].Hosts, []string{"orders.example.com"}},
	}
	for _, c := range checks {
		checkEqual(t, c.what, c.got, c.want)
	}
}

func TestEnvUnsetReportsEveryVariable(t *testing.T) {
	env := baseEnv()
	delete(env, "SECRET")
	delete(env, "ENTRIES")
	delete(env, "SUB")
	_, err := Parse([]byte(envConfig), envFrom(env), t.TempDir())
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"tenants[0].introspection.client_secret: environment variable SECRET is not set",
		"tenants[0].cache.max_entries: environment variable ENTRIES is not set",
		"routes[0].hosts[0]: environment variable SUB is not set",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	if n := len(errorLines(err)); n != 3 {
		t.Errorf("got %d errors, want 3 (no follow-up errors):\n%v", n, err)
	}
}

func TestEnvWrongTypesDoNotShowValues(t *testing.T) {
	env := baseEnv()
	env["SKIP"] = "hunter2-skip"
	env["ENTRIES"] = "hunter2-entries"
	env["TIMEOUT"] = "hunter2-timeout"
	env["BIND"] = "hunter2:bind"
	_, err := Parse([]byte(envConfig), envFrom(env), t.TempDir())
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows a value from the environment:\n%v", err)
	}
	for _, w := range []string{
		"tenants[0].introspection.insecure_skip_verify: not a boolean",
		"tenants[0].cache.max_entries: not an integer",
		"tenants[0].introspection.timeout: not a duration",
		"grpc.address: must be host:port",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestEnvExpansionCannotInjectStructure(t *testing.T) {
	// A value that looks like YAML, or like a second tenant, stays a string.
	src := "tenants:\n  - name: ${NAME}\n    introspection: {url: \"https://i.example/\", auth_method: none}\nroutes: [{name: r, tenant: acme}]\n"
	_, err := Parse([]byte(src), envFrom(map[string]string{"NAME": "acme\n  - name: evil"}), "")
	if err == nil || !strings.Contains(err.Error(), "tenants[0].name: (value from the environment) must match") {
		t.Errorf("got %v", err)
	}
}

func TestKeysAreNotExpanded(t *testing.T) {
	src := "${KEY}: 1\nroutes: [{name: r, public: true}]\n"
	_, err := Parse([]byte(src), envFrom(map[string]string{"KEY": "grpc"}), "")
	if err == nil || !strings.Contains(err.Error(), `["${KEY}"]: unknown key`) {
		t.Errorf("got %v", err)
	}
}
