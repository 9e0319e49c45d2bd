package app

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// Issue 12, item 1: only signs that the authorization server is unwell
// count for the circuit breaker, whose thresholds come from the tenant's
// circuit_breaker section.

// coolDownYAML gives acme's breaker the cool-down testCoolDown.
const coolDownYAML = "cool_down: 500ms"

// withBreaker sets tenant acme's circuit_breaker in a testConfig to the
// flow-mapping entries given.
func withBreaker(cfg, entries string) string {
	const anchor = "    max_concurrent_introspections: 2\n" // acme's only
	if strings.Count(cfg, anchor) != 1 {
		panic("withBreaker: testConfig no longer has acme's max_concurrent_introspections")
	}
	return strings.Replace(cfg, anchor, anchor+"    circuit_breaker: {"+entries+"}\n", 1)
}

// TestTokensAnsweredBadlyDoNotOpenTheBreaker: anyone can send tokens the
// authorization server answers 400 (or with a body of the wrong shape).
// Each such check is a 503, but they must not open the tenant's breaker,
// which would make every uncached token of the tenant a 503 too.
func TestTokensAnsweredBadlyDoNotOpenTheBreaker(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("good", goodClaims(nil))
	var bad []string
	for i := range 10 {
		tok := fmt.Sprint("bad-request-", i)
		as.Raw(tok, http.StatusBadRequest, `{"error":"invalid_request"}`)
		bad = append(bad, tok)
	}
	for tok, body := range map[string]string{
		"not-json": `<html>{"active":tru`, "no-active": `{"sub":"x"}`, "wrong-type": `{"active":"true"}`, "array": `[]`,
	} {
		as.Raw(tok, http.StatusOK, body)
		bad = append(bad, tok)
	}
	as.Handle("redirect", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "https://elsewhere.example/")
		w.WriteHeader(http.StatusFound)
	})
	bad = append(bad, "redirect")
	for _, tok := range bad {
		h.unavailable(t, orders(tok), checkBound)
		wantCalls(t, as, tok, 1, "")
	}
	h.allowed(t, orders("good"), checkBound)
	if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
		t.Errorf("acme's breaker is %v after %d tokens answered badly", s, len(bad))
	}
	if got := breakerGauge(t, h, "acme"); got != "0" {
		t.Errorf("breaker gauge %q, want 0", got)
	}
}

// TestAnswersAboutOneTokenKeepTheBreakerClosed: a server answering every
// call 200 with a body that is not JSON is answering; the breaker stays
// closed and every check still asks it (and is a 503).
func TestAnswersAboutOneTokenKeepTheBreakerClosed(t *testing.T) {
	as := newFaultyAS(t)
	h := startHarness(t, testConfig(as.URL))
	as.SetFault(introspectiontest.Fault{Body: "\x00\x1f\x8b<html>{\"active\":tru"})
	n := 2 * introspection.BreakerConsecutiveFailures
	h.allUnavailable(t, as, "g", n)
	if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
		t.Errorf("breaker %v after %d garbage answers", s, n)
	}
	as.SetFault(introspectiontest.Fault{})
	h.allowed(t, orders("after"), checkBound)
}

func TestBreakerSettingsFromConfig(t *testing.T) {
	t.Run("consecutive_failures", func(t *testing.T) {
		as := newFaultyAS(t)
		h := startHarness(t, withBreaker(testConfig(as.URL), "consecutive_failures: 2, cool_down: 1h"))
		as.SetFault(html5xx)
		h.unavailable(t, orders("t1"), checkBound)
		if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
			t.Fatalf("breaker %v after 1 failure of 2", s)
		}
		h.unavailable(t, orders("t2"), checkBound)
		h.unavailable(t, orders("t3"), fastBound)
		if got := as.Total(); got != 2 {
			t.Errorf("%d calls reached the server, want 2", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		as := newFaultyAS(t)
		h := startHarness(t, withBreaker(testConfig(as.URL), "enabled: false"))
		as.SetFault(html5xx)
		h.allUnavailable(t, as, "t", 3*introspection.BreakerConsecutiveFailures) // no breaker
		if h.breaker("acme").Enabled() {
			t.Error("acme has a breaker")
		}
		if got := breakerGauge(t, h, "acme"); got != "" {
			t.Errorf("breaker gauge for a tenant without a breaker: %q", got)
		}
		if got := breakerGauge(t, h, "globex"); got != "0" {
			t.Errorf("globex's breaker gauge %q, want 0", got)
		}
	})
}

// TestReloadKeepsBreakerOnlyWithSameSettings: an open breaker survives a
// reload that keeps the tenant's introspection and circuit_breaker
// settings (even one that changes its cache), and not one that changes
// circuit_breaker.
func TestReloadKeepsBreakerOnlyWithSameSettings(t *testing.T) {
	as := newFaultyAS(t)
	path := filepath.Join(t.TempDir(), "tokengate.yaml")
	write := func(cfg string) {
		t.Helper()
		testsupport.WriteFile(t, path, cfg)
	}
	base := testConfig(as.URL)
	write(withBreaker(base, "consecutive_failures: 2, cool_down: 1h"))
	h := startHarnessAt(t, path)
	reload := func(cfg string) {
		t.Helper()
		write(cfg)
		if err := h.srv.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	as.SetFault(html5xx)
	trip := func() {
		t.Helper()
		for i := 0; h.breaker("acme").State() != introspection.BreakerOpen; i++ {
			if i == 5 {
				t.Fatal("the breaker does not open")
			}
			h.unavailable(t, orders(fmt.Sprint("trip", as.Total())), checkBound)
		}
	}
	trip()

	// Only the cache changes: same server, same breaker, still open.
	withCache := strings.Replace(withBreaker(base, "consecutive_failures: 2, cool_down: 1h"),
		"    max_concurrent_introspections: 2\n", "    max_concurrent_introspections: 2\n    cache: {max_ttl: 1m}\n", 1)
	reload(withCache)
	calls := as.Total()
	h.unavailable(t, orders("after-cache-change"), fastBound)
	if as.Total() != calls {
		t.Error("a reload that changed only the cache closed the breaker")
	}

	// circuit_breaker changes: a new, closed breaker with the new settings.
	reload(strings.Replace(withCache, "consecutive_failures: 2", "consecutive_failures: 3", 1))
	if s := h.breaker("acme").State(); s != introspection.BreakerClosed {
		t.Fatalf("breaker %v after circuit_breaker changed", s)
	}
	h.allUnavailable(t, as, "new", 3)
	if s := h.breaker("acme").State(); s != introspection.BreakerOpen {
		t.Errorf("breaker %v after 3 failures of 3", s)
	}
}

// allUnavailable checks n new tokens (prefix0, prefix1, ...), wanting
// each to be a 503 introspection_error for which as was asked.
func (h *harness) allUnavailable(t *testing.T, as *introspectiontest.Server, prefix string, n int) {
	t.Helper()
	before := as.Total()
	for i := range n {
		h.unavailable(t, orders(fmt.Sprint(prefix, i)), checkBound)
	}
	if got := as.Total() - before; got != int64(n) {
		t.Errorf("%d calls reached the server, want %d", got, n)
	}
}

// The config package's defaults are the breaker's.
func TestBreakerDefaultsAgree(t *testing.T) {
	d := config.DefaultCircuitBreaker()
	if !d.Enabled || d.ConsecutiveFailures != introspection.BreakerConsecutiveFailures ||
		d.FailureRatio != introspection.BreakerFailureRatio || d.MinCalls != introspection.BreakerMinCalls ||
		d.Window != introspection.BreakerWindow || d.CoolDown != introspection.DefaultBreakerCoolDown {
		t.Errorf("config defaults %+v differ from introspection's", d)
	}
}
