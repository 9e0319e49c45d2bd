package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func TestFixedAtStart(t *testing.T) {
	start := &config.Config{
		GRPC:  config.GRPC{Address: "127.0.0.1:9191"},
		HTTP:  config.HTTP{Address: "127.0.0.1:8181"},
		Redis: &config.Redis{Address: "127.0.0.1:6379", Password: "hunter2-secret"},
		Admin: &config.Admin{Address: "127.0.0.1:8282", Token: "t"},
	}
	same := func() *config.Config {
		c := *start
		r := *start.Redis
		a := *start.Admin
		c.Redis, c.Admin = &r, &a
		return &c
	}
	for _, tc := range []struct {
		name   string
		flags  Options
		change func(*config.Config)
		want   []string // substrings of the error; none: no error
	}{
		{name: "nothing changed", change: func(*config.Config) {}},
		{name: "tenants only", change: func(c *config.Config) { c.Tenants = []config.Tenant{{Name: "x"}} }},
		{name: "grpc address", change: func(c *config.Config) { c.GRPC.Address = "127.0.0.1:1" }, want: []string{"grpc.address", "takes a restart"}},
		{name: "http address", change: func(c *config.Config) { c.HTTP.Address = "127.0.0.1:2" }, want: []string{"http.address"}},
		{name: "addresses under flags", flags: Options{GRPCAddress: ":0", HTTPAddress: ":0"},
			change: func(c *config.Config) { c.GRPC.Address, c.HTTP.Address = "a:1", "b:2" }},
		{name: "redis password", change: func(c *config.Config) { c.Redis.Password = "other-secret" }, want: []string{"redis:"}},
		{name: "redis removed", change: func(c *config.Config) { c.Redis = nil }, want: []string{"redis:"}},
		{name: "admin token", change: func(c *config.Config) { c.Admin.Token = "u" }, want: []string{"admin:"}},
		{name: "admin tls on", change: func(c *config.Config) { c.Admin.TLS = &config.TLS{CertFile: "c.pem", KeyFile: "k.pem"} }, want: []string{"admin:"}},
		{name: "all at once", change: func(c *config.Config) { c.GRPC.Address, c.Redis, c.Admin = "x:1", nil, nil },
			want: []string{"grpc.address", "redis:", "admin:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := same()
			tc.change(next)
			err := newFixedAtStart(start, tc.flags).check(next)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"hunter2-secret", "other-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) && tc.name == "all at once" {
				t.Errorf("%d error lines, want one per setting", n)
			}
		})
	}
}

// logLines returns the JSON log lines with message msg.
func logLines(t *testing.T, logs string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestReloadLogsOneLinePerOutcome(t *testing.T) {
	as := introspectiontest.New(t)
	cfg := testConfig(as.URL)
	path := testsupport.WriteConfig(t, cfg)
	h := startHarnessAt(t, path)

	// Three errors: one line saying so, with all three.
	bad := strings.Replace(cfg, "tenant: globex", "tenant: nope", 1)
	bad = strings.Replace(bad, `path_prefix: "/reports"`, `path_prefix: "reports"`, 1)
	bad = strings.Replace(bad, "timeout: 1s", "timeout: soon", 1)
	testsupport.WriteFile(t, path, bad)
	if err := h.srv.Reload(context.Background()); err == nil {
		t.Fatal("reload of an invalid file succeeded")
	}
	failed := logLines(t, h.logs.String(), "config reload failed, keeping the old config")
	if len(failed) != 1 {
		t.Fatalf("%d failure lines, want 1: %s", len(failed), h.logs.String())
	}
	if errs, _ := failed[0]["errors"].([]any); len(errs) != 3 {
		t.Errorf("errors = %v, want 3", failed[0]["errors"])
	}
	for _, want := range []string{"routes[4].tenant", "routes[3].path_prefix", "timeout"} {
		if !strings.Contains(failed[0]["error"].(string), want) {
			t.Errorf("error %q lacks %q", failed[0]["error"], want)
		}
	}

	// A valid change: the line names what changed.
	good := strings.Replace(cfg, `any_scopes: ["reports.view", "reports.admin"]`, `any_scopes: ["reports.view"]`, 1)
	good = strings.Replace(good, "  - name: globex-api\n", "  - name: globex-v2\n", 1)
	testsupport.WriteFile(t, path, good)
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ok := logLines(t, h.logs.String(), "config reloaded")
	if len(ok) != 1 {
		t.Fatalf("%d success lines, want 1", len(ok))
	}
	got := fmt.Sprint(ok[0]["routes_changed"], ok[0]["routes_added"], ok[0]["routes_removed"], ok[0]["tenants_changed"])
	if got != "[reports] [globex-v2] [globex-api] <nil>" {
		t.Errorf("changes logged: %s (%v)", got, ok[0])
	}
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok := logLines(t, h.logs.String(), "config reloaded"); len(ok) != 2 || ok[1]["unchanged"] != true {
		t.Errorf("a reload of the same file: %v", ok)
	}
}
