package e2e

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tokengate/tokengate/extauthz/grpcauthz/grpcauthztest"
)

// req is a checked request, as Envoy describes it in a CheckRequest.
type req struct {
	method, host, path string
	auth               string            // the authorization header; "" sends none
	headers            map[string]string // more request headers (lowercase names)
	ext                map[string]string // context_extensions
	md                 []string          // gRPC metadata of the Check call (key, value, ...)
	cert               string            // attributes.source.certificate (URL-encoded PEM); "": none
	raw                bool              // headers in header_map, as Envoy's encode_raw_headers sends them
}

func (r req) proto() *authv3.CheckRequest {
	if r.method == "" {
		r.method = "GET"
	}
	if r.host == "" {
		r.host = "orders.acme.example"
	}
	if r.path == "" {
		r.path = "/orders/1"
	}
	headers := map[string]string{}
	if r.auth != "" {
		headers["authorization"] = r.auth
	}
	maps.Copy(headers, r.headers)
	return grpcauthztest.Request{
		Method: r.method, Host: r.host, Path: r.path, Scheme: "https", Protocol: "HTTP/1.1",
		Headers: headers, Extensions: r.ext, Certificate: r.cert, RawHeaders: r.raw,
	}.Proto()
}

// answer is a CheckResponse in HTTP terms.
type answer struct {
	allow     bool
	status    int
	challenge string            // WWW-Authenticate of a deny
	body      map[string]string // JSON body of a deny
	set       map[string]string // headers set on an allow
	remove    []string          // headers_to_remove of an allow
	meta      map[string]string // dynamic metadata (string fields)
	resp      *authv3.CheckResponse
}

// check sends one Check over p's gRPC listener and checks the response's
// shape: an allow is OK with an ok_response whose headers overwrite; a deny
// is a non-OK status with a denied_response carrying a JSON body with
// error and error_description.
func (p *proc) check(t *testing.T, r req) answer {
	t.Helper()
	resp, err := p.checkRaw(p.grpcConn(t), r)
	if err != nil {
		t.Fatalf("Check %s %s%s: gRPC error (a deny must be a response): %v", r.method, r.host, r.path, err)
	}
	return parseAnswer(t, resp)
}

// checkRaw sends one Check on conn (bounded by 10 s); it may run on any
// goroutine.
func (p *proc) checkRaw(conn *grpc.ClientConn, r req) (*authv3.CheckResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(r.md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, r.md...)
	}
	return authv3.NewAuthorizationClient(conn).Check(ctx, r.proto())
}

func parseAnswer(t *testing.T, resp *authv3.CheckResponse) answer {
	t.Helper()
	a := grpcauthztest.ParseAnswer(t, resp)
	return answer{allow: a.Allow, status: a.Status, challenge: a.Challenge, body: a.Body, set: a.Set, remove: a.Remove, meta: a.Meta, resp: resp}
}

func bearer(token string) string { return "Bearer " + token }

// traceparent is a W3C traceparent header value (sampled).
func traceparent(traceID, spanID string) string { return "00-" + traceID + "-" + spanID + "-01" }

// Prometheus text format, parsed just enough for the tests.

// metricValue sums the samples of metric name whose labels include want.
// ok is false when no sample matches.
func metricValue(text, name string, want map[string]string) (sum float64, ok bool) {
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, found := cutLast(line, ' ')
		if !found {
			continue
		}
		metric, labels := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 && strings.HasSuffix(series, "}") {
			metric, labels = series[:i], series[i+1:len(series)-1]
		}
		if metric != name || !labelsInclude(labels, want) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		sum, ok = sum+v, true
	}
	return sum, ok
}

func cutLast(s string, sep byte) (before, after string, found bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// labelsInclude parses `a="x",b="y"` (no escaped quotes needed here) and
// reports whether every wanted label has its value.
func labelsInclude(labels string, want map[string]string) bool {
	have := map[string]string{}
	for labels != "" {
		k, rest, ok := strings.Cut(labels, `="`)
		if !ok {
			return false
		}
		v, rest2, ok := strings.Cut(rest, `"`)
		if !ok {
			return false
		}
		have[k] = v
		labels = strings.TrimPrefix(rest2, ",")
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// scrape reads p's /metrics.
func (p *proc) scrape(t *testing.T) string {
	t.Helper()
	code, h, body := httpDo(t, "GET", "http://"+p.httpAddr+"/metrics", nil, "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics content-type %q, want Prometheus text", ct)
	}
	return body
}

// metric is one value from p's /metrics (0 when absent).
func (p *proc) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := metricValue(p.scrape(t), name, labels)
	return v
}
