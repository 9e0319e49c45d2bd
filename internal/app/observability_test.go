package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/metadata"

	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

const (
	remoteTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpan  = "00f067aa0ba902b7"
	traceparent = "00-" + remoteTrace + "-" + remoteSpan + "-01"
)

type traced struct {
	*harness
	as       *introspectiontest.Server
	recorder *tracetest.SpanRecorder
}

func startTraced(t *testing.T) *traced {
	t.Helper()
	as := newGoodAS(t)
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.New(context.Background(), telemetry.Options{Version: "test", SpanProcessor: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	h := startHarnessOpts(t, testsupport.WriteConfig(t, testConfig(as.URL)), slog.LevelDebug, tel)
	return &traced{harness: h, as: as, recorder: rec}
}

// checkSpan returns the one ended tokengate.check span.
func (tr *traced) checkSpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range tr.recorder.Ended() {
		if s.Name() == "tokengate.check" {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want 1 tokengate.check span, got %d", len(found))
	}
	return found[0]
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func (tr *traced) send(t *testing.T, ctx context.Context, r req) *authv3.CheckResponse {
	t.Helper()
	resp, err := tr.client.Check(ctx, r.proto())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSpanParentFromGRPCMetadata(t *testing.T) {
	tr := startTraced(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent)
	// The checked request carries another trace: the gRPC call's wins.
	tr.send(t, ctx, req{path: "/orders", auth: "Bearer good", extraHeaders: map[string]string{
		"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"}})
	s := tr.checkSpan(t)
	if got := s.SpanContext().TraceID().String(); got != remoteTrace {
		t.Fatalf("trace id = %s, want the gRPC call's %s", got, remoteTrace)
	}
	a := attrs(s)
	for k, v := range map[string]string{"tokengate.tenant": "acme", "tokengate.route": "orders-read",
		"tokengate.decision": "allow", "tokengate.reason": "allowed", "tokengate.cache": "miss"} {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	// The otelgrpc server span sits between the remote parent and the check.
	// The server span ends after the response is sent: wait for it.
	var server sdktrace.ReadOnlySpan
	testsupport.Poll(5*time.Second, func() bool {
		for _, sp := range tr.recorder.Ended() {
			if sp.SpanContext().SpanID() == s.Parent().SpanID() {
				server = sp
			}
		}
		return server != nil
	})
	if server == nil || server.Parent().SpanID().String() != remoteSpan {
		t.Fatalf("check span's parent is not the gRPC server span of the remote call")
	}
}

func TestSpanParentFromCheckedRequestTraceparent(t *testing.T) {
	tr := startTraced(t)
	tr.send(t, context.Background(), req{path: "/orders", auth: "Bearer nope", extraHeaders: map[string]string{"traceparent": traceparent}})
	s := tr.checkSpan(t)
	if s.SpanContext().TraceID().String() != remoteTrace || s.Parent().SpanID().String() != remoteSpan {
		t.Fatalf("span %s parent %s, want child of %s", s.SpanContext().TraceID(), s.Parent().SpanID(), traceparent)
	}
	if a := attrs(s); a["tokengate.decision"] != "deny" || a["tokengate.reason"] != "inactive" {
		t.Errorf("attributes %v", a)
	}
	// The deny line carries the trace id.
	if !strings.Contains(tr.logs.String(), `"trace_id":"`+remoteTrace+`"`) {
		t.Errorf("deny log lacks trace_id: %s", tr.logs.String())
	}
}

func TestSpanParentFromB3(t *testing.T) {
	for name, headers := range map[string]map[string]string{
		"single":   {"b3": remoteTrace + "-" + remoteSpan + "-1"},
		"multiple": {"x-b3-traceid": remoteTrace, "x-b3-spanid": remoteSpan, "x-b3-sampled": "1"},
	} {
		t.Run(name, func(t *testing.T) {
			tr := startTraced(t)
			tr.send(t, context.Background(), req{path: "/orders", auth: "Bearer good", extraHeaders: headers})
			s := tr.checkSpan(t)
			if s.SpanContext().TraceID().String() != remoteTrace || s.Parent().SpanID().String() != remoteSpan {
				t.Fatalf("b3 %s: trace %s parent %s", name, s.SpanContext().TraceID(), s.Parent().SpanID())
			}
		})
	}
}

func TestSpanWithoutAnyTraceContext(t *testing.T) {
	tr := startTraced(t)
	tr.send(t, context.Background(), req{path: "/nope", auth: "Bearer good"})
	s := tr.checkSpan(t)
	if !s.SpanContext().IsValid() || s.SpanContext().TraceID().String() == remoteTrace {
		t.Fatal("no new trace")
	}
	if a := attrs(s); a["tokengate.reason"] != "no_route" || a["tokengate.cache"] != "none" {
		t.Errorf("attributes %v", a)
	}
}

func TestIntrospectionSpanAndTraceparentReachTheServer(t *testing.T) {
	tr := startTraced(t)
	tr.send(t, context.Background(), req{path: "/orders", auth: "Bearer good", extraHeaders: map[string]string{"traceparent": traceparent}})
	check := tr.checkSpan(t)
	var client sdktrace.ReadOnlySpan
	for _, s := range tr.recorder.Ended() {
		if s.SpanKind().String() == "client" && s.Parent().SpanID() == check.SpanContext().SpanID() {
			client = s
		}
	}
	if client == nil {
		t.Fatal("no client span under the check span")
	}
	tps := traceparents(tr.as)
	if len(tps) != 1 || !strings.Contains(tps[0], remoteTrace) || !strings.Contains(tps[0], client.SpanContext().SpanID().String()) {
		t.Fatalf("authorization server got traceparent %v, want the client span of trace %s", tps, remoteTrace)
	}
}

func TestMetricsScrape(t *testing.T) {
	tr := startTraced(t)
	tr.send(t, context.Background(), orders("good"))
	tr.send(t, context.Background(), orders("good"))
	tr.send(t, context.Background(), orders("nope"))
	tr.send(t, context.Background(), req{path: "/nope"})
	path := tr.srv.opts.ConfigPath
	testsupport.WriteFile(t, path, "not: [valid")
	tr.srv.Reload(context.Background())
	text := tr.metrics(t)
	for _, want := range []string{
		`tokengate_decisions_total{decision="allow",reason="allowed",route="orders-read",tenant="acme"} 2`,
		`tokengate_decisions_total{decision="deny",reason="inactive",route="orders-read",tenant="acme"} 1`,
		`tokengate_decisions_total{decision="deny",reason="no_route",route="",tenant=""} 1`,
		`tokengate_cache_lookups_total{result="hit",tenant="acme"} 1`,
		`tokengate_cache_lookups_total{result="miss",tenant="acme"} 2`,
		`tokengate_introspection_requests_total{outcome="active",tenant="acme"} 1`,
		`tokengate_introspection_requests_total{outcome="inactive",tenant="acme"} 1`,
		`tokengate_introspection_duration_seconds_count{tenant="acme"} 2`,
		`tokengate_cache_entries{tenant="acme"} 2`,
		`tokengate_config_reloads_total{result="failure"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, leak := range []string{"good", "user-1", "/orders"} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "tokengate_") && strings.Contains(line, leak) {
				t.Errorf("metric label leaks %q: %s", leak, line)
			}
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestDenyLogCarriesTraceIDWithoutExporter(t *testing.T) {
	h, as := startWithAS(t) // default telemetry: nothing exported
	resp, err := h.client.Check(context.Background(), req{path: "/orders", auth: "Bearer nope",
		extraHeaders: map[string]string{"traceparent": traceparent}}.proto())
	if err != nil || resp.GetDeniedResponse() == nil {
		t.Fatal(resp, err)
	}
	if !strings.Contains(h.logs.String(), `"trace_id":"`+remoteTrace+`"`) {
		t.Fatalf("deny line lacks the checked request's trace id: %s", h.logs.String())
	}
	if tps := traceparents(as); len(tps) != 1 || !strings.Contains(tps[0], remoteTrace) {
		t.Fatalf("authorization server traceparents = %v", tps)
	}
}

// traceparents are the traceparent headers as received, in order.
func traceparents(as *introspectiontest.Server) []string {
	var tps []string
	for _, r := range as.Requests() {
		if tp := r.Header.Get("Traceparent"); tp != "" {
			tps = append(tps, tp)
		}
	}
	return tps
}

func TestHTTPModeCheckJoinsTheTrace(t *testing.T) {
	tr := startTraced(t)
	tr.httpCheck(t, orders("good"), map[string]string{"traceparent": traceparent})
	s := tr.checkSpan(t)
	if s.SpanContext().TraceID().String() != remoteTrace || s.Parent().SpanID().String() != remoteSpan {
		t.Fatalf("HTTP-mode check span: trace %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
}
