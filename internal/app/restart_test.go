package app

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
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
