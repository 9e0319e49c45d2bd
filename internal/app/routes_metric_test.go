package app

import (
	"context"
	"regexp"
	"testing"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// TestRoutesGauge: tokengate_routes is the route count of the
// configuration in use, from start and after each successful reload (a
// failed one keeps the old configuration, and its count).
func TestRoutesGauge(t *testing.T) {
	as := introspectiontest.New(t)
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	h := startHarnessAt(t, path)
	routes := func() string {
		t.Helper()
		body := h.metrics(t)
		m := regexp.MustCompile(`(?m)^tokengate_routes(?:\{\})? (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no tokengate_routes in\n%s", body)
		}
		return m[1]
	}
	if got := routes(); got != "5" {
		t.Fatalf("tokengate_routes = %s at start, want 5 (testConfig's routes)", got)
	}
	testsupport.WriteFile(t, path, manyRoutesConfig(as.URL, 3, 4))
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := routes(); got != "12" {
		t.Fatalf("tokengate_routes = %s after a reload to 12 routes", got)
	}
	testsupport.WriteFile(t, path, "not: [valid")
	if err := h.srv.Reload(context.Background()); err == nil {
		t.Fatal("reload of an invalid config succeeded")
	}
	if got := routes(); got != "12" {
		t.Fatalf("tokengate_routes = %s after a failed reload, want 12 (the config in use)", got)
	}
}
