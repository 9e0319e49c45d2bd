package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// jaeger is a running Jaeger v2 (bin/jaeger, built from tools/jaeger) with
// in-memory storage, everything on free loopback ports.
type jaeger struct {
	*proc
	otlpGRPC, otlpHTTP, query string // host:port
}

// jaegerBinary is $TOKENGATE_JAEGER, else <repo>/bin/jaeger.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TOKENGATE_JAEGER")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin", "jaeger")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("Jaeger v2 binary %s is missing (%v): run `make jaeger` (it builds bin/jaeger from tools/jaeger), or set TOKENGATE_JAEGER", bin, err)
	}
	return bin
}

func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	j := &jaeger{otlpGRPC: testsupport.FreeAddr(t), otlpHTTP: testsupport.FreeAddr(t), query: testsupport.FreeAddr(t)}
	queryGRPC := testsupport.FreeAddr(t)
	// The collector's own telemetry is off (level none): nothing listens on
	// fixed ports such as 8888.
	config := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %q
    grpc:
      endpoint: %q
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
      http:
        endpoint: %q
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, j.query, queryGRPC, j.otlpGRPC, j.otlpHTTP)
	path := writeFile(t, t.TempDir(), "jaeger.yaml", config)
	j.proc = startProcess(t, "jaeger", bin, baseEnv(), "--config", path)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-j.done:
			t.Fatalf("jaeger exited (%v):\n%s", j.waitErr, tail(j.stderr.String(), 40))
		default:
		}
		if code, _, _ := tryGet("http://" + j.query + "/api/services"); code == 200 {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger's query API on %s did not answer within 60s", j.query)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tryGet is a GET that reports errors instead of failing the test.
func tryGet(url string) (int, []byte, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Jaeger's query API (v1 JSON: GET /api/traces/<id>).
type jTrace struct {
	TraceID   string `json:"traceID"`
	Spans     []jSpan
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
}

func (s jSpan) tag(key string) string {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

// parent is the span's CHILD_OF parent span id ("" for a root).
func (s jSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (tr jTrace) span(id string) (jSpan, bool) {
	for _, s := range tr.Spans {
		if s.SpanID == id {
			return s, true
		}
	}
	return jSpan{}, false
}

// trace polls Jaeger (up to 20 s) until trace id exists and ready accepts it.
func (j *jaeger) trace(t *testing.T, id string, ready func(jTrace) bool) jTrace {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		code, body, err := tryGet("http://" + j.query + "/api/traces/" + id)
		if err == nil && code == 200 {
			var resp struct{ Data []jTrace }
			if json.Unmarshal(body, &resp) == nil && len(resp.Data) == 1 && ready(resp.Data[0]) {
				return resp.Data[0]
			}
		}
		last = fmt.Sprintf("%d %v %.2000s", code, err, body)
		if time.Now().After(deadline) {
			t.Fatalf("trace %s not in Jaeger (complete) within 20s; last answer: %s", id, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
