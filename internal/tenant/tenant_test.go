package tenant_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/tenant"
	"github.com/tokengate/tokengate/introspection"
)

// acme is a tenant as the config package makes it, with edit applied.
func acme(t *testing.T, edit func(*config.Tenant)) *config.Tenant {
	t.Helper()
	cfg, err := config.Parse([]byte(`
tenants:
  - name: acme
    introspection:
      url: "http://127.0.0.1:1/introspect"
      client_id: rs-acme
      client_secret: one-secret
routes: [{name: r, tenant: acme}]
`), nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tn := cfg.Tenants[0]
	if edit != nil {
		edit(&tn)
	}
	return &tn
}

func build(t *testing.T, cfg *config.Tenant, prev *tenant.Runtime) *tenant.Runtime {
	t.Helper()
	rt, err := tenant.Build(cfg, prev, tenant.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Release(nil) })
	return rt
}

// TestReuseRules pins what a reload keeps: the cache store (and client)
// while the introspection and cache settings are unchanged, the breaker
// while the introspection and circuit_breaker settings are unchanged.
func TestReuseRules(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		edit                 func(*config.Tenant)
		keepStore, keepBreak bool
	}{
		{"unchanged", nil, true, true},
		{"policy only", func(c *config.Tenant) { c.Leeway, c.MaxConcurrentIntrospections = time.Minute, 3 }, true, true},
		{"cache", func(c *config.Tenant) { c.Cache.MaxTTL = time.Minute }, false, true},
		{"circuit_breaker", func(c *config.Tenant) { c.CircuitBreaker.CoolDown = time.Minute }, true, false},
		{"secret", func(c *config.Tenant) { c.Introspection.ClientSecret = "two-secret" }, false, false},
		{"header", func(c *config.Tenant) { c.Introspection.Headers = map[string]string{"X-A": "b"} }, false, false},
		{"issuer", func(c *config.Tenant) { c.Issuer = "https://idp.example" }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := build(t, acme(t, nil), nil)
			next := build(t, acme(t, tc.edit), prev)
			if got := next.Store() == prev.Store(); got != tc.keepStore {
				t.Errorf("store kept = %t, want %t", got, tc.keepStore)
			}
			if got := next.Breaker() == prev.Breaker(); got != tc.keepBreak {
				t.Errorf("breaker kept = %t, want %t", got, tc.keepBreak)
			}
			if next.Introspector() == prev.Introspector() {
				t.Error("the chain was not rebuilt")
			}
		})
	}
}

// TestHeadersComparedByContent: a map rebuilt with the same entries (as
// every reload decodes one) keeps the client.
func TestHeadersComparedByContent(t *testing.T) {
	withHeaders := func(c *config.Tenant) { c.Introspection.Headers = map[string]string{"X-A": "1", "X-B": "2"} }
	prev := build(t, acme(t, withHeaders), nil)
	next := build(t, acme(t, withHeaders), prev)
	if next.Store() != prev.Store() {
		t.Error("same headers in a new map: store not kept")
	}
}

func TestBuildError(t *testing.T) {
	bad := acme(t, func(c *config.Tenant) { c.Introspection.URL = "ftp://x" })
	if _, err := tenant.Build(bad, nil, tenant.Env{}); err == nil || !strings.Contains(err.Error(), "url") {
		t.Fatalf("error = %v", err)
	}
}

// TestBreakerInChain: the tenant's breaker guards its client (that cached
// tokens pass an open breaker is internal/app's TestBreaker* territory).
func TestBreakerInChain(t *testing.T) {
	rt := build(t, acme(t, func(c *config.Tenant) {
		c.CircuitBreaker.ConsecutiveFailures = 1
		c.CircuitBreaker.CoolDown = time.Hour
	}), nil)
	// Nothing listens on 127.0.0.1:1: one failed call opens the breaker.
	_, err := rt.Introspector().Introspect(context.Background(), "tok")
	if !errors.Is(err, introspection.ErrServerUnavailable) {
		t.Fatalf("first call: %v", err)
	}
	_, err = rt.Introspector().Introspect(context.Background(), "tok")
	if !errors.Is(err, introspection.ErrCircuitOpen) || rt.Breaker().State() != introspection.BreakerOpen {
		t.Fatalf("second call: %v, breaker %v", err, rt.Breaker().State())
	}
}
