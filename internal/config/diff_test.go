package config

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	base := func() *Config {
		return &Config{
			HTTP:    HTTP{ForwardedHeaders: "x-forwarded"},
			Tenants: []Tenant{{Name: "acme", Issuer: "a"}, {Name: "globex"}},
			Routes:  []Route{{Name: "r1", Tenant: "acme"}, {Name: "r2", Tenant: "globex", Scopes: []string{"x"}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   Changes
	}{
		{"nothing", func(*Config) {}, Changes{}},
		{"tenant changed", func(c *Config) { c.Tenants[0].Issuer = "b" }, Changes{TenantsChanged: []string{"acme"}}},
		{"tenant added and removed", func(c *Config) { c.Tenants[1].Name = "initech" },
			Changes{TenantsAdded: []string{"initech"}, TenantsRemoved: []string{"globex"}}},
		{"route scopes", func(c *Config) { c.Routes[1].Scopes = []string{"y"} }, Changes{RoutesChanged: []string{"r2"}}},
		{"route removed", func(c *Config) { c.Routes = c.Routes[:1] }, Changes{RoutesRemoved: []string{"r2"}}},
		{"route order", func(c *Config) { c.Routes[0], c.Routes[1] = c.Routes[1], c.Routes[0] }, Changes{RouteOrder: true}},
		{"other", func(c *Config) { c.HTTP.ForwardedHeaders = "none" }, Changes{Other: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.change(next)
			got := Diff(base(), next)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Diff = %+v, want %+v", got, tc.want)
			}
			if got.Empty() != reflect.DeepEqual(tc.want, Changes{}) {
				t.Fatalf("Empty() = %v", got.Empty())
			}
		})
	}
}
