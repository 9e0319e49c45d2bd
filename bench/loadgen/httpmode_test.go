package main

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": {0}, "1,3": {1, 3}, "0-2,5": {0, 1, 2, 5}} {
		if got, err := parseCPUList(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "2-1", "-1", "0,", "1024"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
	if _, err := parseFlags([]string{"--only", "nope"}, nil); err == nil {
		t.Error("--only nope accepted")
	}
	o, err := parseFlags([]string{"--only", "http", "--server-cpus", "0", "--client-cpus", "1"}, nil)
	if err != nil || o.only != "http" || !reflect.DeepEqual(o.serverCPUs, []int{0}) || !reflect.DeepEqual(o.clientCPUs, []int{1}) {
		t.Errorf("parseFlags: %+v, %v", o, err)
	}
}

func TestAnnouncedAddresses(t *testing.T) {
	line := `{"msg":"serving","grpc_address":"127.0.0.1:4000","http_address":"127.0.0.1:4001"}`
	if g, h, ok := servingAddresses(line); !ok || g != "127.0.0.1:4000" || h != "127.0.0.1:4001" {
		t.Errorf("servingAddresses = %q %q %v", g, h, ok)
	}
	if a, ok := noopAddresses(noopPrefix + "127.0.0.1:1" + noopHTTPInfix + "127.0.0.1:2\n"); !ok || a != "127.0.0.1:1 http 127.0.0.1:2" {
		t.Errorf("noopAddresses = %q %v", a, ok)
	}
	if _, ok := noopAddresses(noopPrefix + "127.0.0.1:1"); ok {
		t.Error("an announcement without the HTTP address matched")
	}
}

// TestNoopHTTPServer drives the no-op HTTP server with the HTTP closed
// loop: every answer is 200 with the headers it was given.
func TestNoopHTTPServer(t *testing.T) {
	want := http.Header{"X-Auth-Subject": {"bench-user"}, "X-Envoy-Auth-Headers-To-Remove": {"x-auth-org,authorization"}}
	hdr, err := decodeHeaders(encodeHeaders(want))
	if err != nil || !reflect.DeepEqual(hdr, want) {
		t.Fatalf("headers round trip: %v, %v", hdr, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newNoopHTTPServer(hdr)
	go srv.Serve(lis)
	defer srv.Close()
	ctx := context.Background()
	got, err := allowHeaders(ctx, lis.Addr().String(), goodToken)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("allowHeaders = %v, %v; want %v", got, err, want)
	}
	tg := newHTTPTarget(lis.Addr().String(), 4)
	defer tg.close()
	res := target{name: targetNoop, http: tg}.run(ctx, loopSpec{clients: 4, duration: 200 * time.Millisecond,
		token: func(int) string { return goodToken }, record: true})
	if res.tally.total() == 0 || res.tally.notAllowed() != 0 || res.lat.count() != int(res.tally.total()) {
		t.Errorf("loop: %s, %d latencies", res.tally, res.lat.count())
	}
	// --together: two targets loaded at once, each by its own clients.
	tg2 := newHTTPTarget(lis.Addr().String(), 2)
	defer tg2.close()
	both := runTogether(ctx, []target{{name: targetNoop, http: tg}, {name: targetTokengate, http: tg2}},
		loopSpec{clients: 2, duration: 100 * time.Millisecond, token: func(int) string { return goodToken }})
	if len(both) != 2 || both[0].tally.allowed == 0 || both[1].tally.allowed == 0 || both[0].tally.notAllowed()+both[1].tally.notAllowed() != 0 {
		t.Errorf("together: %s / %s", both[0].tally, both[1].tally)
	}
	tl := newTally()
	tl.addHTTP(401, nil)
	tl.addHTTP(0, context.DeadlineExceeded)
	if tl.denied[401] != 1 || tl.rpcErrors != 1 || !strings.Contains(tl.String(), "deadline") {
		t.Errorf("tally: %s", tl)
	}
}

func TestMissedHTTPTarget(t *testing.T) {
	r := results{}
	r.tp = throughputResult{medianRatio: 0.95, medianRatioOK: true}
	r.burst = burstResult{checks: 1, asCalls: 1, tally: tally{allowed: 1}}
	r.http = throughputResult{clients: 32, medianRatio: 0.70, medianRatioOK: true}
	m := missedTargets(r)
	if len(m) != 1 || !strings.Contains(m[0], "HTTP-mode throughput ratio") {
		t.Errorf("missed: %v", m)
	}
	r.http.medianRatio = 0.9
	if m := missedTargets(r); len(m) != 0 {
		t.Errorf("missed: %v", m)
	}
}
