package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
)

// TestMain lets the test binary play the no-op server when the smoke test
// re-executes it with --noop-server, as the real binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "--"+noopFlag {
		var headers string
		if len(os.Args) > 2 {
			headers = strings.TrimPrefix(os.Args[2], "--"+noopHeadersFlag+"=")
		}
		if err := serveNoop(context.Background(), headers); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(float64(i + 1))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []time.Duration{ms(3)}, 50, ms(3)},
		{"one sample p99", []time.Duration{ms(3)}, 99, ms(3)},
		{"p50 of 1..100", hundred, 50, ms(50)},
		{"p99 of 1..100", hundred, 99, ms(99)},
		{"p100 is the max", hundred, 100, ms(100)},
		{"p0 is the min", hundred, 0, ms(1)},
		{"above 100 clamps", hundred, 150, ms(100)},
		{"nearest rank rounds up", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 50, ms(2)},
		{"p99 of four", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 99, ms(4)},
		{"p25 of four", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 25, ms(1)},
		{"p26 of four", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 26, ms(2)},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestMergeLatencies(t *testing.T) {
	a := []time.Duration{ms(5), ms(1)}
	b := []time.Duration{ms(3)}
	l := mergeLatencies([][]time.Duration{a, nil, b})
	if l.count() != 3 || l.percentile(50) != ms(3) || l.max() != ms(5) || l.percentile(1) != ms(1) {
		t.Errorf("merged = %v", l.sorted)
	}
	if a[0] != ms(5) {
		t.Error("mergeLatencies modified its input")
	}
	var empty latencies
	if empty.max() != 0 || empty.percentile(99) != 0 || empty.count() != 0 {
		t.Error("empty latencies are not zero")
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1}, 10},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Errorf("median reordered its input: %v", in)
			}
		}
	}
	if got := medianDuration([]time.Duration{ms(1), ms(4)}); got != 2500*time.Microsecond {
		t.Errorf("medianDuration = %v", got)
	}
}

func TestRatioFormatting(t *testing.T) {
	tests := []struct {
		num, den float64
		want     string
	}{
		{9000, 10000, "0.90"},
		{8999, 10000, "0.90"}, // two decimals, rounded
		{8940, 10000, "0.89"},
		{12000, 10000, "1.20"},
		{0, 10000, "0.00"},
		{5, 0, "n/a"},
		{5, -1, "n/a"},
	}
	for _, tt := range tests {
		if got := formatRatio(tt.num, tt.den); got != tt.want {
			t.Errorf("formatRatio(%v, %v) = %q, want %q", tt.num, tt.den, got, tt.want)
		}
	}
	if got := ratioText(0, false); got != "n/a" {
		t.Errorf("ratioText(not ok) = %q", got)
	}
	if got := formatDuration(1500 * time.Microsecond); got != "1.500ms" {
		t.Errorf("formatDuration = %q", got)
	}
	if got := formatKiB(2048); got != "2.0 MiB" {
		t.Errorf("formatKiB = %q", got)
	}
	if got := formatKiB(-1); got != "n/a" {
		t.Errorf("formatKiB(-1) = %q", got)
	}
}

func TestCeilDiv(t *testing.T) {
	for _, tt := range []struct {
		a, b time.Duration
		want int
	}{
		{3500 * time.Millisecond, time.Second, 4},
		{3 * time.Second, time.Second, 3},
		{1, time.Second, 1},
		{time.Second, 0, 0},
	} {
		if got := ceilDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("ceilDiv(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\ttokengate\nVmPeak:\t  900000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n"
	m := parseProcStatus([]byte(status))
	if m.rssKiB != 20480 || m.hwmKiB != 40960 {
		t.Errorf("got %+v", m)
	}
	if m := parseProcStatus([]byte("Name: x\n")); m.rssKiB != -1 || m.hwmKiB != -1 {
		t.Errorf("absent fields: %+v", m)
	}
}

func TestServingAddress(t *testing.T) {
	line := `{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"serving","grpc_address":"127.0.0.1:4000","http_address":"127.0.0.1:4001"}`
	if addr, ok := servingAddress(line); !ok || addr != "127.0.0.1:4000" {
		t.Errorf("servingAddress = %q, %v", addr, ok)
	}
	for _, l := range []string{`{"msg":"starting"}`, `not json "serving"`, `{"msg":"serving"}`} {
		if _, ok := servingAddress(l); ok {
			t.Errorf("servingAddress(%s) matched", l)
		}
	}
}

func TestLineWatcher(t *testing.T) {
	w := newLineWatcher(func(l string) (string, bool) { return strings.CutPrefix(l, "addr ") })
	for _, chunk := range []string{"hello\nad", "dr 1.2.3.4:5\nadd", "r 9.9.9.9:9\n"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-w.found:
		if got != "1.2.3.4:5" {
			t.Errorf("found %q", got)
		}
	default:
		t.Fatal("no address found")
	}
	select {
	case got := <-w.found:
		t.Errorf("a second address was announced: %q", got)
	default:
	}
	if !strings.HasSuffix(w.tail(), "addr 9.9.9.9:9") {
		t.Errorf("tail = %q", w.tail())
	}
}

func deny(code int, reason string) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: 16, Message: reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(code)}}},
	}
}

func TestTally(t *testing.T) {
	a, b := newTally(), newTally()
	a.add(&authv3.CheckResponse{Status: &rpcstatus.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil)
	a.add(&authv3.CheckResponse{Status: &rpcstatus.Status{}}, nil) // OK without ok_response is not an allow
	b.add(deny(401, "inactive"), nil)
	b.add(deny(503, "introspection_error"), nil)
	b.add(nil, errors.New("boom"))
	a.merge(b)
	if a.allowed != 1 || a.total() != 5 || a.notAllowed() != 4 || a.denied[401] != 1 || a.denied[503] != 1 || a.rpcErrors != 1 {
		t.Errorf("tally = %+v", a)
	}
	if got := a.String(); !strings.Contains(got, "allow=1 0=1 401=1 503=1") || !strings.Contains(got, `first_error="boom"`) {
		t.Errorf("String() = %s", got)
	}
}

func TestMissedTargets(t *testing.T) {
	good := results{}
	good.tp = throughputResult{medianRatio: 0.95, medianRatioOK: true, tgChecks: 10, medianNoopP99: 10 * time.Millisecond, medianTgP99: 12 * time.Millisecond}
	good.burst = burstResult{checks: 1000, asCalls: 1, tally: tally{allowed: 1000}}
	good.inactive = inactiveResult{asCalls: 4, bound: 5, inactive: 3, res: loadResult{tally: tally{denied: map[int]int64{401: 3}}}}
	good.flood = floodResult{asPeak: 16}
	if m := missedTargets(good); len(m) != 0 {
		t.Fatalf("good results missed: %v", m)
	}
	bad := good
	bad.tp.medianRatio, bad.tp.tgNonAllows, bad.tp.medianTgP99 = 0.5, 2, 13*time.Millisecond
	bad.burst.asCalls = 1000
	bad.inactive.asCalls = 40
	bad.flood.asPeak = 64
	m := missedTargets(bad)
	if len(m) != 6 || !slices.Contains(m, "p99 tokengate/noop 1.30 > 1.2") {
		t.Fatalf("bad results: %d missed, want 6: %v", len(m), m)
	}
	var buf bytes.Buffer
	printSummary(&buf, bad)
	if n := strings.Count(buf.String(), "TARGET MISSED: "); n != 6 {
		t.Errorf("summary has %d TARGET MISSED lines:\n%s", n, buf.String())
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--quick", "--rounds", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 2 || o.duration != time.Second || o.clients != 32 || o.tokengate != "bin/tokengate" {
		t.Errorf("quick with --rounds 2: %+v", o)
	}
	if _, err := parseFlags([]string{"--clients", "0"}, io.Discard); err == nil {
		t.Error("--clients 0 accepted")
	}
	var usage bytes.Buffer
	_, _ = parseFlags([]string{"--help"}, &usage)
	if strings.Contains(usage.String(), noopFlag) || !strings.Contains(usage.String(), "--tokengate") {
		t.Errorf("usage:\n%s", usage.String())
	}
}

func TestConfigMentionsTheLimits(t *testing.T) {
	c := tokengateConfig("http://127.0.0.1:1/oauth2/introspect")
	for _, want := range []string{"max_concurrent_introspections: 16", "negative_ttl: 1s", "max_entries: 5000", "max_ttl: 5m", `"orders.read"`} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	line := "1234 (to ken) gate)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	got, err := parseProcStat(line)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseProcStat = %v, %v; want 3s", got, err)
	}
	if _, err := parseProcStat("1234 no parens"); err == nil {
		t.Error("a line without a command name parsed")
	}
	if d, err := readCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("readCPU(self) = %v, %v", d, err)
	}
	if got := formatMicros(1500 * time.Nanosecond); got != "2µs" {
		t.Errorf("formatMicros = %q", got)
	}
	if got := formatMicros(-1); got != "n/a" {
		t.Errorf("formatMicros(-1) = %q", got)
	}
}
