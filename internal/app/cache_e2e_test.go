package app

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

func TestCacheHitsStillApplyPolicy(t *testing.T) {
	as := introspectiontest.New(t)
	h := startHarness(t, testConfig(as.URL))
	as.Claims("reader", goodClaims(nil))
	if a := h.check(t, req{path: "/orders", auth: "Bearer reader"}); !a.allow {
		t.Fatalf("first check: %s", a.reason)
	}
	// Same token, now from the cache, on routes whose policy it does not meet.
	if a := h.check(t, req{method: "POST", path: "/orders", auth: "Bearer reader"}); a.reason != "insufficient_scope" {
		t.Fatalf("cached token on a scope it lacks: %s", a.reason)
	}
	if a := h.check(t, req{path: "/reports", auth: "Bearer reader"}); a.reason != "audience" {
		t.Fatalf("cached token on an audience it lacks: %s", a.reason)
	}
	if a := h.check(t, req{path: "/orders", auth: "Bearer reader"}); !a.allow {
		t.Fatalf("cached allow: %s", a.reason)
	}
	if n := as.Calls("reader"); n != 1 {
		t.Fatalf("authorization server calls = %d, want 1", n)
	}
}

func TestCachedExpiryIsStillEnforced(t *testing.T) {
	as := introspectiontest.New(t)
	// exp 1s ahead; leeway is 30s, so the decision would still allow for a
	// while, but the cache must not keep the entry past exp.
	cfg := strings.Replace(testConfig(as.URL), "    audiences: [\"api://orders\"]\n", "    audiences: [\"api://orders\"]\n    leeway: 0s\n", 1)
	h := startHarness(t, cfg)
	as.Claims("short", goodClaims(map[string]any{"exp": time.Now().Add(1100 * time.Millisecond).Unix()}))
	if a := h.check(t, req{path: "/orders", auth: "Bearer short"}); !a.allow {
		t.Fatalf("fresh: %s", a.reason)
	}
	time.Sleep(1200 * time.Millisecond)
	if a := h.check(t, req{path: "/orders", auth: "Bearer short"}); a.reason != "expired" {
		t.Fatalf("after exp: %s", a.reason)
	}
	if n := as.Calls("short"); n != 2 {
		t.Fatalf("authorization server calls = %d, want 2 (the entry must end at exp)", n)
	}
}

func TestColdBurstMakesOneCall(t *testing.T) {
	as := introspectiontest.New(t)
	h := startHarness(t, testConfig(as.URL))
	as.Handle("cold", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(100 * time.Millisecond) // long enough for every check to arrive
		w.Write([]byte(`{"active":true,"sub":"u","scope":"orders.read","aud":"api://orders"}`))
	})
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	allowed := make(chan bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := h.client.Check(context.Background(), req{path: "/orders", auth: "Bearer cold"}.proto())
			allowed <- err == nil && resp.GetOkResponse() != nil
		}()
	}
	close(start)
	wg.Wait()
	close(allowed)
	ok := 0
	for a := range allowed {
		if a {
			ok++
		}
	}
	if ok != n {
		t.Errorf("%d of %d allowed", ok, n)
	}
	if calls := as.Calls("cold"); calls != 1 {
		t.Fatalf("authorization server calls for a cold burst of %d = %d, want 1", n, calls)
	}
}

func TestInactiveTokenIsNegativelyCached(t *testing.T) {
	as := introspectiontest.New(t)
	h := startHarness(t, testConfig(as.URL))
	for i := 0; i < 20; i++ {
		if a := h.check(t, req{path: "/orders", auth: "Bearer nope"}); a.reason != "inactive" {
			t.Fatalf("check %d: %s", i, a.reason)
		}
	}
	if n := as.Calls("nope"); n != 1 {
		t.Fatalf("authorization server calls = %d, want 1 within negative_ttl", n)
	}
}

func TestIntrospectionErrorsAreNotCached(t *testing.T) {
	as := introspectiontest.New(t)
	h := startHarness(t, testConfig(as.URL))
	as.Raw("flaky", 500, "oops")
	for i := 0; i < 3; i++ {
		if a := h.check(t, req{path: "/orders", auth: "Bearer flaky"}); a.reason != "introspection_error" {
			t.Fatalf("check %d: %s", i, a.reason)
		}
	}
	as.Claims("flaky", goodClaims(nil))
	if a := h.check(t, req{path: "/orders", auth: "Bearer flaky"}); !a.allow {
		t.Fatalf("after recovery: %s", a.reason)
	}
	if n := as.Calls("flaky"); n != 4 {
		t.Fatalf("calls = %d, want 4", n)
	}
}

func TestReloadKeepsUnchangedTenantsCaches(t *testing.T) {
	as := introspectiontest.New(t)
	as.Claims("a", goodClaims(nil))
	as.Claims("g", goodClaims(nil))
	path := writeConfig(t, testConfig(as.URL))
	h := startHarnessAt(t, path)
	h.check(t, req{path: "/orders", auth: "Bearer a"})
	h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer g"})

	// Change only globex's introspection settings and acme's routes.
	cfg := testConfig(as.URL)
	cfg = strings.Replace(cfg, `client_secret: "other"`, `client_secret: "rotated"`, 1)
	cfg = strings.Replace(cfg, `methods: ["GET", "HEAD"]`, `methods: ["GET", "HEAD", "OPTIONS"]`, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.check(t, req{path: "/orders", auth: "Bearer a"})
	h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer g"})
	if n := as.Calls("a"); n != 1 {
		t.Errorf("acme (unchanged) calls = %d, want 1: its cache should survive", n)
	}
	if n := as.Calls("g"); n != 2 {
		t.Errorf("globex (changed) calls = %d, want 2: its cache should start empty", n)
	}
}
