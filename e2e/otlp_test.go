package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// otlpReceiver counts OTLP/HTTP exports by path (/v1/metrics, /v1/traces).
type otlpReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	posts  map[string]int
	ctypes map[string]string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{posts: map[string]int{}, ctypes: map[string]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if req.Method == http.MethodPost {
			r.mu.Lock()
			r.posts[req.URL.Path]++
			r.ctypes[req.URL.Path] = req.Header.Get("Content-Type")
			r.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty Export*ServiceResponse
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) count(path string) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts[path], r.ctypes[path]
}

// TestOTLPMetricsExport: OTEL_METRICS_EXPORTER=otlp pushes the metrics
// (every OTEL_METRIC_EXPORT_INTERVAL) while /metrics keeps working.
func TestOTLPMetricsExport(t *testing.T) {
	t.Parallel()
	recv := newOTLPReceiver(t)
	as := newAS(t)
	p := startServe(t, cfg{as: as.URL}.write(t), serveOpts{env: append([]string{
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=" + recv.URL + "/v1/metrics",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf",
		"OTEL_METRIC_EXPORT_INTERVAL=500",
	}, acmeEnv...)})
	p.check(t, req{auth: bearer("tok-otlp")})
	testsupport.WaitFor(t, 10*time.Second, "an OTLP metrics export to /v1/metrics", func() bool {
		n, _ := recv.count("/v1/metrics")
		return n >= 1
	})
	if _, ct := recv.count("/v1/metrics"); ct != "application/x-protobuf" {
		t.Errorf("metrics export content-type %q, want application/x-protobuf", ct)
	}
	if _, ok := metricValue(p.scrape(t), "tokengate_decisions_total", map[string]string{"reason": "inactive"}); !ok {
		t.Error("/metrics lost tokengate_decisions_total while exporting over OTLP")
	}
}

// TestTracesExporterChoice: OTEL_TRACES_EXPORTER unset or none exports
// nothing (even with an OTLP endpoint set); console writes spans to stdout.
func TestTracesExporterChoice(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		exporter string // "": unset
		stdout   bool   // the trace id appears on stdout
	}{
		{"unset", "", false},
		{"none", "none", false},
		{"console", "console", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			recv := newOTLPReceiver(t)
			env := append([]string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, acmeEnv...)
			if c.exporter != "" {
				env = append(env, "OTEL_TRACES_EXPORTER="+c.exporter)
			}
			as := newAS(t)
			as.Claims("tok-choice", goodClaims(nil))
			p := startServe(t, cfg{as: as.URL}.write(t), serveOpts{env: env})
			traceID := randomHex(t, 16)
			if a := p.check(t, req{auth: bearer("tok-choice"), headers: map[string]string{"traceparent": traceparent(traceID, randomHex(t, 8))}}); !a.allow {
				t.Fatalf("check: %d", a.status)
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.waitExit(t, 20*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if n, _ := recv.count("/v1/traces"); n != 0 {
				t.Errorf("%d OTLP trace exports, want 0", n)
			}
			if got := strings.Contains(p.stdout.String(), traceID); got != c.stdout {
				t.Errorf("trace id on stdout: %v, want %v; stdout:\n%.2000s", got, c.stdout, p.stdout.String())
			}
		})
	}
}
