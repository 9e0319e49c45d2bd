package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/tenant"
	"github.com/tokengate/tokengate/introspection"
)

// Issue 7: authorization servers failing in the ways real ones do, end to
// end through the gRPC server. testConfig gives tenant acme a 1s timeout.
const (
	acmeTimeout  = time.Second
	checkBound   = acmeTimeout + 500*time.Millisecond // a correctness bound: no check waits longer
	fastBound    = 200 * time.Millisecond             // an open breaker answers well under the timeout
	testCoolDown = 500 * time.Millisecond
)

type fault int

const (
	healthy   fault = iota
	refused         // nothing listens: connection refused
	blackHole       // accepts TCP, never reads nor answers
	slow            // answers after the timeout
	html5xx         // 502 with an HTML page
	garbage         // 200 with a body that is not JSON
	truncated       // Content-Length larger than the body sent, then close
	drip            // a valid body, one byte every 300ms
	flapping        // alternately 500 and a valid answer
)

// faultAS is an introspection endpoint on 127.0.0.1 that misbehaves as
// told, on a fixed address so the tenant's URL stays valid. Only requests
// whose path is not globex's (/t/globex.com/...) misbehave. It counts the
// requests (and black-holed connections) that reach it. Every change of
// fault restarts the listener, so no keep-alive connection outlives it.
type faultAS struct {
	t      *testing.T
	addr   string
	URL    string
	fault  atomic.Int32
	calls  atomic.Int64 // acme's requests, plus connections black-holed
	flips  atomic.Int64
	srv    *http.Server  // nil while refusing; only the test goroutine
	served chan struct{} // closed when srv.Serve returns
	heldMu sync.Mutex
	held   []net.Conn
}

func newFaultAS(t *testing.T) *faultAS {
	f := &faultAS{t: t, addr: "127.0.0.1:0"}
	f.start()
	f.URL = "http://" + f.addr
	t.Cleanup(f.stop)
	return f
}

func (f *faultAS) start() {
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatalf("fake authorization server: %v", err)
	}
	f.addr = lis.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	f.served = make(chan struct{})
	go func(srv *http.Server, served chan struct{}) {
		defer close(served)
		srv.Serve(holdingListener{lis, f})
	}(f.srv, f.served)
}

// stop closes the listener and every connection; the handlers see their
// request's context end (noLeak waits for them).
func (f *faultAS) stop() {
	if f.srv == nil {
		return
	}
	f.srv.Close()
	<-f.served
	f.srv = nil
	f.heldMu.Lock() // Serve has returned: no more are added
	for _, c := range f.held {
		c.Close()
	}
	f.held = nil
	f.heldMu.Unlock()
}

func (f *faultAS) set(x fault) {
	f.stop()
	f.fault.Store(int32(x))
	f.flips.Store(0)
	if x != refused {
		f.start()
	}
}

// holdingListener black-holes connections while the fault says so.
type holdingListener struct {
	net.Listener
	f *faultAS
}

func (l holdingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || fault(l.f.fault.Load()) != blackHole {
			return c, err
		}
		l.f.calls.Add(1)
		l.f.heldMu.Lock()
		l.f.held = append(l.f.held, c)
		l.f.heldMu.Unlock()
	}
}

func (f *faultAS) serve(w http.ResponseWriter, r *http.Request) {
	// Reading the body lets net/http watch the connection, so that
	// r.Context() ends when the client gives up.
	r.ParseForm()
	body, _ := json.Marshal(goodClaims(nil))
	x := fault(f.fault.Load())
	if strings.HasPrefix(r.URL.Path, "/t/globex.com/") {
		x = healthy
	} else {
		f.calls.Add(1)
	}
	if x == flapping {
		x = healthy
		if f.flips.Add(1)%2 == 1 {
			x = html5xx
		}
	}
	switch x {
	case healthy:
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case slow:
		select {
		case <-r.Context().Done():
		case <-time.After(3 * acmeTimeout):
			w.Write(body)
		}
	case html5xx:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>")
	case garbage:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "\x00\x1f\x8b<html>{\"active\":tru")
	case truncated:
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:len(body)/2])
		buf.Flush()
		conn.Close()
	case drip:
		w.Header().Set("Content-Type", "application/json")
		rc := http.NewResponseController(w)
		for _, b := range body {
			if _, err := w.Write([]byte{b}); err != nil || rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
}

func (h *harness) breaker(name string) *introspection.CircuitBreaker {
	var b *introspection.CircuitBreaker
	h.srv.eachTenant(func(n string, rt *tenant.Runtime) {
		if n == name {
			b = rt.Breaker()
		}
	})
	return b
}

// closeIdle closes the idle connections of every tenant's client.
func (h *harness) closeIdle() {
	h.srv.eachTenant(func(_ string, rt *tenant.Runtime) { rt.Release(nil) })
}

// goroutines is runtime.NumGoroutine once it has stopped changing.
func goroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// noLeak waits (bounded) for the goroutine count to come back to base.
func noLeak(t *testing.T, h *harness, base int) {
	t.Helper()
	const slack = 2
	h.closeIdle()
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); n > base+slack && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if n > base+slack {
		var dump strings.Builder
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("goroutines: %d before the outage, %d after it\n%s", base, n, dump.String())
	}
}

// unavailable checks r, wanting 503 introspection_error within bound.
func (h *harness) unavailable(t *testing.T, r req, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	a := h.check(t, r)
	took := time.Since(start)
	if a.allow || a.status != 503 || a.reason != "introspection_error" {
		t.Fatalf("%s: %d %s (allow %v), want 503 introspection_error", r.auth, a.status, a.reason, a.allow)
	}
	if took > bound {
		t.Errorf("%s: answered in %v, bound %v", r.auth, took, bound)
	}
	return took
}

// allowed checks r, wanting an allow within bound.
func (h *harness) allowed(t *testing.T, r req, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	a := h.check(t, r)
	took := time.Since(start)
	if !a.allow || took > bound {
		t.Fatalf("%s: %d %s in %v, want an allow within %v", r.auth, a.status, a.reason, took, bound)
	}
	return took
}

func orders(token string) req { return req{path: "/orders", auth: "Bearer " + token} }

// TestFaultyAuthorizationServers: servers that are unwell open the
// breaker. (A 200 with garbage is an answer about one token, which never
// opens it: TestAnswersAboutOneTokenKeepTheBreakerClosed.)
func TestFaultyAuthorizationServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fault
	}{
		{"connection refused", refused},
		{"black hole", blackHole},
		{"slow beyond the timeout", slow},
		{"5xx with an HTML body", html5xx},
		{"truncated body", truncated},
		{"slow drip", drip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newFaultAS(t)
			h := startHarness(t, withBreaker(testConfig(as.URL), coolDownYAML))
			h.allowed(t, orders("cached"), checkBound)
			h.closeIdle()
			base := goroutines()

			as.set(tc.fault)
			var times []string
			for i := range introspection.BreakerConsecutiveFailures {
				took := h.unavailable(t, orders(fmt.Sprint("t", i)), checkBound)
				times = append(times, took.Round(time.Millisecond).String())
			}
			// The breaker is open: checks fail fast without reaching the server.
			calls := as.calls.Load()
			took := h.unavailable(t, orders("after-trip"), fastBound)
			if as.calls.Load() != calls || h.breaker("acme").State() != introspection.BreakerOpen {
				t.Errorf("breaker %v let %d calls through", h.breaker("acme").State(), as.calls.Load()-calls)
			}
			// The cache still answers for a token it holds.
			h.allowed(t, orders("cached"), fastBound)
			t.Logf("checks took %s; open breaker %v", strings.Join(times, ", "), took.Round(time.Millisecond))

			// Recovery once the cool-down is over.
			as.set(healthy)
			healed := time.Now()
			for i := 0; !h.check(t, orders(fmt.Sprint("r", i))).allow; i++ {
				if time.Since(healed) > testCoolDown+checkBound {
					t.Fatalf("not recovered %v after the server healed", time.Since(healed))
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("recovered %v after the server healed (cool-down %v)", time.Since(healed).Round(time.Millisecond), testCoolDown)
			if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
				t.Errorf("breaker %v after recovery", s)
			}
			noLeak(t, h, base)
		})
	}
}

func TestFlappingAuthorizationServer(t *testing.T) {
	as := newFaultAS(t)
	h := startHarness(t, testConfig(as.URL))
	as.set(flapping)
	// Failures never in a row: only the failure ratio (≥ 0.5 of ≥ 20 calls
	// in the window) opens the breaker, on the first failure after 20 calls.
	for i := range introspection.BreakerMinCalls + 1 {
		if i%2 == 0 {
			h.unavailable(t, orders(fmt.Sprint("f", i)), checkBound)
		} else {
			h.allowed(t, orders(fmt.Sprint("f", i)), checkBound)
		}
	}
	calls := as.calls.Load()
	h.unavailable(t, orders("after-trip"), fastBound)
	if as.calls.Load() != calls {
		t.Error("an open breaker let a call through")
	}
}

func TestBreakerProbesAfterCoolDown(t *testing.T) {
	as := newFaultAS(t)
	h := startHarness(t, withBreaker(testConfig(as.URL), coolDownYAML))
	as.set(html5xx)
	const n = introspection.BreakerConsecutiveFailures
	for i := range n {
		h.unavailable(t, orders(fmt.Sprint("t", i)), checkBound)
	}
	for i := range 20 {
		h.unavailable(t, orders(fmt.Sprint("open", i)), fastBound)
	}
	if acme, globex := breakerGauge(t, h, "acme"), breakerGauge(t, h, "globex"); acme != "2" || globex != "0" {
		t.Errorf("breaker gauge while acme's is open: acme %q globex %q", acme, globex)
	}
	// A reload that keeps the tenant's client keeps its open breaker.
	if err := h.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.unavailable(t, orders("after-reload"), fastBound)
	if got := as.calls.Load(); got != n {
		t.Fatalf("server calls %d, want %d: none while open", got, n)
	}

	// After the cool-down one probe reaches the still failing server and
	// opens the breaker again.
	time.Sleep(testCoolDown + 50*time.Millisecond)
	h.unavailable(t, orders("probe1"), checkBound)
	h.unavailable(t, orders("probe1-again"), fastBound)
	if got := as.calls.Load(); got != n+1 {
		t.Fatalf("%d probes, want 1", got-n)
	}
	// The next probe finds it healthy, and its success closes the breaker.
	as.set(healthy)
	time.Sleep(testCoolDown + 50*time.Millisecond)
	h.allowed(t, orders("probe2"), checkBound)
	if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
		t.Fatalf("breaker %v after a successful probe", s)
	}
	if got := breakerGauge(t, h, "acme"); got != "0" {
		t.Errorf("breaker gauge after recovery: %q", got)
	}
	logs := h.logs.String()
	for _, want := range []string{`"from":"closed","to":"open"`, `"from":"open","to":"half-open"`, `"from":"half-open","to":"open"`, `"from":"half-open","to":"closed"`} {
		if !strings.Contains(logs, `"msg":"circuit breaker state changed","tenant":"acme",`+want) {
			t.Errorf("no log line for %s", want)
		}
	}
}

func TestBrokenTenantDoesNotSlowOthers(t *testing.T) {
	as := newFaultAS(t) // globex's path stays healthy
	h := startHarness(t, testConfig(as.URL))
	as.set(slow)
	var wg sync.WaitGroup
	for w := range 2 { // acme's two concurrency slots, busy with a hanging server
		wg.Go(func() {
			for i := 0; h.breaker("acme").State() == introspection.BreakerClosed && i < 10; i++ {
				h.client.Check(t.Context(), orders(fmt.Sprintf("w%d-%d", w, i)).proto())
			}
		})
	}
	globex := func(token string) req { return req{host: "api.globex.example", path: "/x", auth: "Bearer " + token} }
	deadline := time.Now().Add(10 * acmeTimeout)
	var slowest time.Duration
	for i := 0; h.breaker("acme").State() == introspection.BreakerClosed; i++ {
		if time.Now().After(deadline) {
			t.Fatal("acme's breaker never opened")
		}
		slowest = max(slowest, h.allowed(t, globex(fmt.Sprint("g", i)), fastBound))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("slowest globex check while acme's server hung: %v", slowest.Round(time.Millisecond))
	wg.Wait()
	h.allowed(t, globex("g-after"), fastBound)
	if s := h.breaker("globex").State(); s != introspection.BreakerClosed {
		t.Errorf("globex's breaker is %v", s)
	}
}

// breakerGauge is the value of tenant's tokengate_circuit_breaker_state.
func breakerGauge(t *testing.T, h *harness, tenant string) string {
	t.Helper()
	resp, err := http.Get("http://" + h.srv.HTTPAddress() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, after, _ := strings.Cut(string(body), "\ntokengate_circuit_breaker_state{tenant=\""+tenant+"\"} ")
	value, _, _ := strings.Cut(after, "\n")
	return value
}
