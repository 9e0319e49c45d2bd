package e2e

import (
	"regexp"
	"syscall"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{})
	as.Claims("tok-m", goodClaims(nil))

	for range 3 { // one miss, two hits
		if a := p.check(t, req{auth: bearer("tok-m")}); !a.allow {
			t.Fatalf("tok-m: %d", a.status)
		}
	}
	for range 2 { // one miss, one negative hit
		if a := p.check(t, req{auth: bearer("tok-inactive")}); a.status != 401 {
			t.Fatalf("tok-inactive: %d", a.status)
		}
	}
	if a := p.check(t, req{}); a.status != 401 {
		t.Fatalf("no token: %d", a.status)
	}
	mark := p.mark()
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))

	text := p.scrape(t)
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"tokengate_decisions_total", map[string]string{"tenant": "acme", "route": "orders-read", "decision": "allow", "reason": "allowed"}, 3},
		{"tokengate_decisions_total", map[string]string{"tenant": "acme", "route": "orders-read", "decision": "deny", "reason": "inactive"}, 2},
		{"tokengate_decisions_total", map[string]string{"tenant": "acme", "route": "orders-read", "decision": "deny", "reason": "missing_token"}, 1},
		{"tokengate_introspection_requests_total", map[string]string{"tenant": "acme", "outcome": "active"}, 1},
		{"tokengate_introspection_requests_total", map[string]string{"tenant": "acme", "outcome": "inactive"}, 1},
		{"tokengate_cache_lookups_total", map[string]string{"tenant": "acme", "result": "miss"}, 2},
		{"tokengate_cache_lookups_total", map[string]string{"tenant": "acme", "result": "hit"}, 2},
		{"tokengate_cache_lookups_total", map[string]string{"tenant": "acme", "result": "negative_hit"}, 1},
		{"tokengate_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"tokengate_introspection_duration_seconds_count", map[string]string{"tenant": "acme"}, 2},
		{"tokengate_routes", nil, 4}, // health, orders-read, orders-write, down-api
		{"tokengate_circuit_breaker_state", map[string]string{"tenant": "acme"}, 0},
	}
	for _, w := range want {
		got, ok := metricValue(text, w.name, w.labels)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	if got, ok := metricValue(text, "tokengate_cache_entries", map[string]string{"tenant": "acme"}); !ok || got < 1 {
		t.Errorf("tokengate_cache_entries{tenant=acme} = %v (present %v), want >= 1", got, ok)
	}
	for _, re := range []string{`(?m)^go_goroutines `, `(?m)^go_memstats_\w+ `, `(?m)^process_cpu_seconds_total `, `(?m)^process_resident_memory_bytes `} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("/metrics lacks /%s/", re)
		}
	}
	// Labels are bounded: never a token or a subject.
	for _, secret := range []string{"tok-m", "tok-inactive", "user-1"} {
		if regexp.MustCompile(regexp.QuoteMeta(secret)).MatchString(text) {
			t.Errorf("/metrics mentions %q", secret)
		}
	}
}
