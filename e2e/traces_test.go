package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// TestTracesToJaeger sends checks in known traces through tokengate, which
// exports its spans over OTLP (http/protobuf, then grpc) to a real Jaeger
// v2, and reads them back through Jaeger's query API.
func TestTracesToJaeger(t *testing.T) {
	j := startJaeger(t)
	for _, c := range []struct{ name, protocol, endpoint string }{
		{"http-protobuf", "http/protobuf", "http://" + j.otlpHTTP},
		{"grpc", "grpc", "http://" + j.otlpGRPC},
	} {
		t.Run(c.name, func(t *testing.T) {
			tracesSubtest(t, j, []string{
				"OTEL_TRACES_EXPORTER=otlp",
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + c.protocol,
			})
		})
	}
}

// newTraceAS is a fake authorization server for which active are good
// tokens and tok-trace-inactive is inactive.
func newTraceAS(t *testing.T, active ...string) *introspectiontest.Server {
	as := newAS(t)
	for _, tok := range active {
		as.Claims(tok, goodClaims(nil))
	}
	as.Claims("tok-trace-inactive", map[string]any{"active": false})
	return as
}

// lastTraceparent is the traceparent of the last introspection of token
// ("" if none).
func lastTraceparent(as *introspectiontest.Server, token string) string {
	reqs := as.RequestsFor(token)
	if len(reqs) == 0 {
		return ""
	}
	return reqs[len(reqs)-1].Header.Get("Traceparent")
}

// checkSpan is the span of the check: the one with tokengate.decision.
func checkSpan(tr jTrace) (jSpan, bool) {
	for _, s := range tr.Spans {
		if s.tag("tokengate.decision") != "" {
			return s, true
		}
	}
	return jSpan{}, false
}

// clientSpanUnder is a client span whose parent, or whose parent's
// parent, is span id.
func clientSpanUnder(tr jTrace, id string) (jSpan, bool) {
	for _, s := range tr.Spans {
		if s.tag("span.kind") != "client" {
			continue
		}
		if s.parent() == id {
			return s, true
		}
		if mid, ok := tr.span(s.parent()); ok && mid.parent() == id {
			return s, true
		}
	}
	return jSpan{}, false
}

// complete: the check span and the introspection client span are in.
func complete(tr jTrace) bool {
	c, ok := checkSpan(tr)
	if !ok {
		return false
	}
	_, ok = clientSpanUnder(tr, c.SpanID)
	return ok
}

func tracesSubtest(t *testing.T, j *jaeger, env []string) {
	tokA, tokB, tokE := "tok-trace-a", "tok-trace-b", "tok-trace-e"
	as := newTraceAS(t, tokA, tokB, tokE)
	p := startServe(t, cfg{as: as.URL}.write(t), serveOpts{env: append(env, acmeEnv...)})

	// A: the trace context in the checked request's headers.
	traceA, spanA := randomHex(t, 16), randomHex(t, 8)
	if a := p.check(t, req{auth: bearer(tokA), headers: map[string]string{"traceparent": traceparent(traceA, spanA)}}); !a.allow {
		t.Fatalf("check A: %d %v", a.status, a.body)
	}
	// B: the trace context of the gRPC call (Envoy with tracing on) wins
	// over the checked request's own.
	traceB, spanB := randomHex(t, 16), randomHex(t, 8)
	traceC, spanC := randomHex(t, 16), randomHex(t, 8)
	if a := p.check(t, req{auth: bearer(tokB), headers: map[string]string{"traceparent": traceparent(traceC, spanC)},
		md: []string{"traceparent", traceparent(traceB, spanB)}}); !a.allow {
		t.Fatalf("check B: %d %v", a.status, a.body)
	}
	// D: a deny.
	traceD, spanD := randomHex(t, 16), randomHex(t, 8)
	if a := p.check(t, req{auth: bearer("tok-trace-inactive"), headers: map[string]string{"traceparent": traceparent(traceD, spanD)}}); a.status != 401 {
		t.Fatalf("check D: %d", a.status)
	}
	// E: a b3 (single header) trace context in the checked request.
	traceE, spanE := randomHex(t, 16), randomHex(t, 8)
	if a := p.check(t, req{auth: bearer(tokE), headers: map[string]string{"b3": traceE + "-" + spanE + "-1"}}); !a.allow {
		t.Fatalf("check E: %d %v", a.status, a.body)
	}
	// Spans are flushed at shutdown.
	p.signal(t, syscall.SIGTERM)
	if code := p.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	trA := j.trace(t, traceA, complete)
	check, _ := checkSpan(trA)
	for k, v := range map[string]string{"tokengate.tenant": "acme", "tokengate.route": "orders-read",
		"tokengate.decision": "allow", "tokengate.reason": "allowed", "tokengate.cache": "miss"} {
		if got := check.tag(k); got != v {
			t.Errorf("trace A: check span %s = %q, want %q", k, got, v)
		}
	}
	if check.parent() != spanA {
		t.Errorf("trace A: check span's parent %q, want %s (the request's traceparent)", check.parent(), spanA)
	}
	if svc := trA.Processes[check.ProcessID].ServiceName; svc != "tokengate" {
		t.Errorf("trace A: service name %q, want tokengate", svc)
	}
	client, _ := clientSpanUnder(trA, check.SpanID)
	if got := lastTraceparent(as, tokA); !strings.HasPrefix(got, "00-"+traceA+"-"+client.SpanID+"-") {
		t.Errorf("trace A: the authorization server got traceparent %q, want 00-%s-%s-.. (the client span)", got, traceA, client.SpanID)
	}

	trB := j.trace(t, traceB, complete)
	check, _ = checkSpan(trB)
	up := check.parent()
	if mid, ok := trB.span(up); ok && up != spanB {
		up = mid.parent() // through the gRPC server span
	}
	if up != spanB {
		t.Errorf("trace B: check span %s does not descend from the gRPC call's span %s (parent %s)", check.SpanID, spanB, check.parent())
	}
	if got := lastTraceparent(as, tokB); !strings.HasPrefix(got, "00-"+traceB+"-") {
		t.Errorf("trace B: the authorization server got traceparent %q, want trace %s", got, traceB)
	}

	trE := j.trace(t, traceE, complete)
	if check, _ = checkSpan(trE); check.parent() != spanE {
		t.Errorf("trace E: check span's parent %q, want %s (the request's b3 header)", check.parent(), spanE)
	}

	trD := j.trace(t, traceD, complete)
	check, _ = checkSpan(trD)
	if check.tag("tokengate.decision") != "deny" || check.tag("tokengate.reason") != "inactive" || check.parent() != spanD {
		t.Errorf("trace D: check span decision %q reason %q parent %q, want deny, inactive, %s",
			check.tag("tokengate.decision"), check.tag("tokengate.reason"), check.parent(), spanD)
	}
}
