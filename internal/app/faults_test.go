package app

import (
	"fmt"
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
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// Issue 7: authorization servers failing in the ways real ones do, end to
// end through the gRPC server. testConfig gives tenant acme a 1s timeout.
const (
	acmeTimeout  = time.Second
	checkBound   = acmeTimeout + 500*time.Millisecond // a correctness bound: no check waits longer
	fastBound    = 200 * time.Millisecond             // an open breaker answers well under the timeout
	testCoolDown = 500 * time.Millisecond
)

// newFaultyAS is the shared fake authorization server answering every
// token with goodClaims until a test sets a fault.
func newFaultyAS(t *testing.T) *introspectiontest.Server {
	as := introspectiontest.New(t)
	as.HandleUnknown(introspectiontest.ReplyClaims(goodClaims(nil)))
	return as
}

// html5xx is a 502 with an HTML page, as a proxy in front of the server
// answers.
var html5xx = introspectiontest.Fault{Status: http.StatusBadGateway, Body: "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"}

// attempts is the number of requests that reached as, plus the
// connections it black-holed.
func attempts(as *introspectiontest.Server) int64 { return as.Total() + as.BlackHoled() }

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
	var n int
	if !testsupport.Poll(3*time.Second, func() bool { n = runtime.NumGoroutine(); return n <= base+slack }) {
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

// TestFaultyAuthorizationServers: servers that are unwell open the
// breaker. (A 200 with garbage is an answer about one token, which never
// opens it: TestAnswersAboutOneTokenKeepTheBreakerClosed.)
func TestFaultyAuthorizationServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault introspectiontest.Fault
		delay time.Duration
	}{
		{"connection refused", introspectiontest.Fault{Refuse: true}, 0},
		{"black hole", introspectiontest.Fault{BlackHole: true}, 0},
		{"slow beyond the timeout", introspectiontest.Fault{}, 3 * acmeTimeout},
		{"5xx with an HTML body", html5xx, 0},
		{"truncated body", introspectiontest.Fault{Truncate: true}, 0},
		{"slow drip", introspectiontest.Fault{Drip: 300 * time.Millisecond}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newFaultyAS(t)
			h := startHarness(t, withBreaker(testConfig(as.URL), coolDownYAML))
			h.allowed(t, orders("cached"), checkBound)
			h.closeIdle()
			base := goroutines()

			as.SetFault(tc.fault)
			as.SetDelay(tc.delay)
			var times []string
			for i := range introspection.BreakerConsecutiveFailures {
				took := h.unavailable(t, orders(fmt.Sprint("t", i)), checkBound)
				times = append(times, took.Round(time.Millisecond).String())
			}
			// The breaker is open: checks fail fast without reaching the server.
			calls := attempts(as)
			took := h.unavailable(t, orders("after-trip"), fastBound)
			if attempts(as) != calls || h.breaker("acme").State() != introspection.BreakerOpen {
				t.Errorf("breaker %v let %d calls through", h.breaker("acme").State(), attempts(as)-calls)
			}
			// The cache still answers for a token it holds.
			h.allowed(t, orders("cached"), fastBound)
			t.Logf("checks took %s; open breaker %v", strings.Join(times, ", "), took.Round(time.Millisecond))

			// Recovery once the cool-down is over.
			as.SetFault(introspectiontest.Fault{})
			as.SetDelay(0)
			healed, i := time.Now(), 0
			testsupport.WaitFor(t, testCoolDown+checkBound, "recovery after the server healed", func() bool {
				i++
				return h.check(t, orders(fmt.Sprint("r", i))).allow
			})
			t.Logf("recovered %v after the server healed (cool-down %v)", time.Since(healed).Round(time.Millisecond), testCoolDown)
			if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
				t.Errorf("breaker %v after recovery", s)
			}
			noLeak(t, h, base)
		})
	}
}

func TestFlappingAuthorizationServer(t *testing.T) {
	h, as := startWithAS(t)
	var flips atomic.Int64 // alternately a 502 and a valid answer
	as.HandleUnknown(func(w http.ResponseWriter, r *http.Request) {
		if flips.Add(1)%2 == 1 {
			introspectiontest.Reply(html5xx.Status, html5xx.Body)(w, r)
			return
		}
		introspectiontest.ReplyClaims(goodClaims(nil))(w, r)
	})
	// Failures never in a row: only the failure ratio (≥ 0.5 of ≥ 20 calls
	// in the window) opens the breaker, on the first failure after 20 calls.
	for i := range introspection.BreakerMinCalls + 1 {
		if i%2 == 0 {
			h.unavailable(t, orders(fmt.Sprint("f", i)), checkBound)
		} else {
			h.allowed(t, orders(fmt.Sprint("f", i)), checkBound)
		}
	}
	calls := as.Total()
	h.unavailable(t, orders("after-trip"), fastBound)
	if as.Total() != calls {
		t.Error("an open breaker let a call through")
	}
}

func TestBreakerProbesAfterCoolDown(t *testing.T) {
	as := newFaultyAS(t)
	h := startHarness(t, withBreaker(testConfig(as.URL), coolDownYAML))
	as.SetFault(html5xx)
	const n = introspection.BreakerConsecutiveFailures
	h.allUnavailable(t, as, "t", n)
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
	if got := as.Total(); got != n {
		t.Fatalf("server calls %d, want %d: none while open", got, n)
	}

	// After the cool-down one probe reaches the still failing server and
	// opens the breaker again.
	time.Sleep(testCoolDown + 50*time.Millisecond)
	h.unavailable(t, orders("probe1"), checkBound)
	h.unavailable(t, orders("probe1-again"), fastBound)
	if got := as.Total(); got != n+1 {
		t.Fatalf("%d probes, want 1", got-n)
	}
	// The next probe finds it healthy, and its success closes the breaker.
	as.SetFault(introspectiontest.Fault{})
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
	as, globexAS := newFaultyAS(t), newFaultyAS(t) // globex's stays healthy
	h := startHarness(t, strings.Replace(testConfig(as.URL), as.URL+"/t/globex.com/", globexAS.URL+"/t/globex.com/", 1))
	as.SetDelay(3 * acmeTimeout)
	var wg sync.WaitGroup
	for w := range 2 { // acme's two concurrency slots, busy with a hanging server
		wg.Go(func() {
			for i := 0; h.breaker("acme").State() == introspection.BreakerClosed && i < 10; i++ {
				h.client.Check(t.Context(), orders(fmt.Sprintf("w%d-%d", w, i)).proto())
			}
		})
	}
	globex := func(token string) req { return req{host: "api.globex.example", path: "/x", auth: "Bearer " + token} }
	var slowest time.Duration
	i := 0
	testsupport.WaitFor(t, 10*acmeTimeout, "acme's breaker to open", func() bool {
		i++
		slowest = max(slowest, h.allowed(t, globex(fmt.Sprint("g", i)), fastBound))
		return h.breaker("acme").State() != introspection.BreakerClosed
	})
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
	_, after, _ := strings.Cut(h.metrics(t), "\ntokengate_circuit_breaker_state{tenant=\""+tenant+"\"} ")
	value, _, _ := strings.Cut(after, "\n")
	return value
}
