package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspection"
)

func newTel(t *testing.T, env map[string]string) *Telemetry {
	t.Helper()
	tel, err := New(context.Background(), Options{Version: "v-test", Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	return tel
}

func scrape(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestNothingExportedWhenUnset(t *testing.T) {
	for _, env := range []map[string]string{nil, {"OTEL_TRACES_EXPORTER": "none"}} {
		tel := newTel(t, env)
		if tel.Exporting {
			t.Fatalf("env %v: exporting", env)
		}
		_, span := tel.Tracer.Start(context.Background(), "x")
		if span.IsRecording() || !span.SpanContext().IsValid() {
			t.Fatalf("env %v: spans should be non-recording but carry ids", env)
		}
		span.End()
	}
	tel := newTel(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"})
	if !tel.Exporting {
		t.Fatal("console exporter not picked up")
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{1}, SpanID: [8]byte{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, span := tel.Tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "x")
	if !span.IsRecording() || span.SpanContext().TraceID() != parent.TraceID() {
		t.Fatal("exporting tracer does not record children of sampled parents")
	}
	span.End()
}

func TestDecisionCountersAreExactUnderConcurrency(t *testing.T) {
	tel := newTel(t, nil)
	m, err := NewMetrics(tel.Meter)
	if err != nil {
		t.Fatal(err)
	}
	allow := Decision{Tenant: "acme", Route: "r1", Allow: true, Reason: "allowed", Cache: introspection.CacheHit}
	deny := Decision{Tenant: "acme", Route: "r1", Reason: "missing_token", Cache: introspection.CacheNone}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				m.Decided(context.Background(), allow)
				m.Decided(context.Background(), deny)
			}
		})
	}
	wg.Wait()
	m.SetCacheSizer(perTenant{"acme": 7})
	m.SetBreakerStates(perTenant{"acme": int(introspection.BreakerOpen)})
	text := scrape(t, tel)
	for _, want := range []string{
		`tokengate_decisions_total{decision="allow",reason="allowed",route="r1",tenant="acme"} 4000`,
		`tokengate_decisions_total{decision="deny",reason="missing_token",route="r1",tenant="acme"} 4000`,
		`tokengate_cache_lookups_total{result="hit",tenant="acme"} 4000`,
		`tokengate_cache_entries{tenant="acme"} 7`,
		`tokengate_circuit_breaker_state{tenant="acme"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(text, `result="none"`) {
		t.Error("checks that never looked at the cache were counted as lookups")
	}
}

// /metrics has the standard Go runtime and process series every
// Prometheus exporter has, beside tokengate's own.
func TestScrapeHasGoAndProcessCollectors(t *testing.T) {
	body := scrape(t, newTel(t, nil))
	want := []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "go_info{"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ", "process_start_time_seconds ")
	}
	for _, w := range want {
		if !hasSeries(body, w) {
			t.Errorf("scrape lacks %q", strings.TrimSpace(w))
		}
	}
	// A second Telemetry (as in-process tests make) has its own registry:
	// registering the collectors again must not panic.
	if body := scrape(t, newTel(t, nil)); !hasSeries(body, "go_goroutines ") {
		t.Error("second registry lacks go_goroutines")
	}
}

// hasSeries reports whether a line of the exposition starts with prefix.
func hasSeries(body, prefix string) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// perTenant is a fixed value per tenant, as cache sizes or breaker states.
type perTenant map[string]int

func (p perTenant) CacheSizes(report func(string, int)) {
	for tenant, n := range p {
		report(tenant, n)
	}
}

func (p perTenant) BreakerStates(report func(string, introspection.BreakerState)) {
	for tenant, n := range p {
		report(tenant, introspection.BreakerState(n))
	}
}
