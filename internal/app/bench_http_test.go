package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// HTTP mode's hot path: a cached allow, as Envoy's http_service sends it
// (path_prefix /authz, the checked request's Host and method, the allowed
// headers). Compare BenchmarkHTTPCheckCached with BenchmarkHTTPCheckNoop in
// one run: the no-op is the same http.Server settings and the same client,
// writing the very allow response tokengate writes (status, claim headers,
// x-envoy-auth-headers-to-remove), so the gap is tokengate's own work.
//
//	go test -run '^$' -bench 'HTTP' -benchmem -count 5 ./internal/app/

// benchHTTPHeaders are the headers of every benchmark check besides Host.
var benchHTTPHeaders = map[string]string{
	"Authorization":     "Bearer cached",
	"User-Agent":        "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
	"Accept":            "*/*",
	"X-Request-Id":      "2f1c7e7e-5c1b-4c54-9d3c-5b8f7f0f6a11",
	"X-Forwarded-Proto": "https",
	"X-Forwarded-For":   "203.0.113.7",
	"Content-Length":    "0",
}

const benchHTTPHost = "orders.acme.example"

// newBenchHTTPRequest is the benchmark check against baseURL
// ("http://host:port"; "" for an in-process request).
func newBenchHTTPRequest(tb testing.TB, baseURL string) *http.Request {
	var r *http.Request
	if baseURL == "" {
		r = httptest.NewRequest(http.MethodGet, "/authz/orders/1", nil)
	} else {
		var err error
		if r, err = http.NewRequest(http.MethodGet, baseURL+"/authz/orders/1", nil); err != nil {
			tb.Fatal(err)
		}
	}
	r.Host = benchHTTPHost
	for k, v := range benchHTTPHeaders {
		if k == "Content-Length" && baseURL != "" {
			continue // the client writes its own
		}
		r.Header.Set(k, v)
	}
	return r
}

// startHTTPBenchServer is a tokengate with the test configuration and the
// "cached" token in its cache.
func startHTTPBenchServer(b *testing.B) *harness {
	as := introspectiontest.NewServer()
	b.Cleanup(as.Close)
	as.Claims("cached", goodClaims(nil))
	h := startHarnessLevel(&testing.T{}, testsupport.WriteConfig(&testing.T{}, testConfig(as.URL)), slog.LevelInfo)
	b.Cleanup(func() { h.srv.Shutdown(context.Background()) })
	return h
}

// benchHTTPClient is a keep-alive client with a connection per parallel
// benchmark goroutine.
func benchHTTPClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute,
		DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// benchHTTPLoop sends the benchmark check to baseURL from parallel
// goroutines, each with its own request, until b.N are done.
func benchHTTPLoop(b *testing.B, baseURL string) {
	client := benchHTTPClient(b)
	do := func(r *http.Request) *http.Response {
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := do(newBenchHTTPRequest(b, baseURL)); resp.StatusCode != http.StatusOK {
		b.Fatalf("warm-up: %d", resp.StatusCode)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newBenchHTTPRequest(b, baseURL)
		for pb.Next() {
			if resp := do(r); resp.StatusCode != http.StatusOK {
				b.Fatalf("check: %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkHTTPCheckCached is one HTTP-mode check through tokengate's real
// http.Server on 127.0.0.1 with a keep-alive client, for a cached token.
func BenchmarkHTTPCheckCached(b *testing.B) {
	h := startHTTPBenchServer(b)
	benchHTTPLoop(b, "http://"+h.srv.HTTPAddress())
}

// BenchmarkHTTPCheckNoop is BenchmarkHTTPCheckCached's check against an
// http.Server with tokengate's settings whose handler writes, without
// looking at the request, the allow response tokengate writes.
func BenchmarkHTTPCheckNoop(b *testing.B) {
	h := startHTTPBenchServer(b)
	// Record tokengate's answer once, then serve it verbatim.
	rec := httptest.NewRecorder()
	h.srv.httpHandler().ServeHTTP(rec, newBenchHTTPRequest(b, ""))
	if rec.Code != http.StatusOK {
		b.Fatalf("tokengate: %d %s", rec.Code, rec.Body)
	}
	want := rec.Result().Header
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		for k, v := range want {
			hdr[k] = v
		}
		w.WriteHeader(http.StatusOK)
	}), 0)
	go srv.Serve(lis)
	b.Cleanup(func() { srv.Close() })
	benchHTTPLoop(b, "http://"+lis.Addr().String())
}

// BenchmarkHTTPHandlerCached is tokengate's HTTP handler (the dispatch to
// the adapter, the check, the response headers) called in process: the
// allocations per check. "recorder" writes into a new
// httptest.ResponseRecorder per check (its own allocations included);
// "writer" into one reused writer whose header map is cleared between
// checks, as net/http's server does not reuse it (its cost is in
// BenchmarkHTTPCheckCached).
func BenchmarkHTTPHandlerCached(b *testing.B) {
	h := startHTTPBenchServer(b)
	handler := h.srv.httpHandler()
	r := newBenchHTTPRequest(b, "")
	b.Run("recorder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	})
	b.Run("writer", func(b *testing.B) {
		w := testsupport.NewDiscardWriter()
		b.ReportAllocs()
		for b.Loop() {
			clear(w.H)
			w.Code = 0
			handler.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}
