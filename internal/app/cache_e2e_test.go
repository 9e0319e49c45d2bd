package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func TestCacheHitsStillApplyPolicy(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("reader", goodClaims(nil))
	if a := h.check(t, orders("reader")); !a.allow {
		t.Fatalf("first check: %s", a.reason)
	}
	// Same token, now from the cache, on routes whose policy it does not meet.
	if a := h.check(t, req{method: "POST", path: "/orders", auth: "Bearer reader"}); a.reason != "insufficient_scope" {
		t.Fatalf("cached token on a scope it lacks: %s", a.reason)
	}
	if a := h.check(t, req{path: "/reports", auth: "Bearer reader"}); a.reason != "audience" {
		t.Fatalf("cached token on an audience it lacks: %s", a.reason)
	}
	if a := h.check(t, orders("reader")); !a.allow {
		t.Fatalf("cached allow: %s", a.reason)
	}
	wantCalls(t, as, "reader", 1, "")
}

func TestCachedExpiryIsStillEnforced(t *testing.T) {
	as := introspectiontest.New(t)
	// exp 1s ahead; leeway is 30s, so the decision would still allow for a
	// while, but the cache must not keep the entry past exp.
	cfg := strings.Replace(testConfig(as.URL), "    audiences: [\"api://orders\"]\n", "    audiences: [\"api://orders\"]\n    leeway: 0s\n", 1)
	h := startHarness(t, cfg)
	as.Claims("short", goodClaims(map[string]any{"exp": time.Now().Add(1100 * time.Millisecond).Unix()}))
	if a := h.check(t, orders("short")); !a.allow {
		t.Fatalf("fresh: %s", a.reason)
	}
	time.Sleep(1200 * time.Millisecond)
	if a := h.check(t, orders("short")); a.reason != "expired" {
		t.Fatalf("after exp: %s", a.reason)
	}
	wantCalls(t, as, "short", 2, "the entry must end at exp")
}

func TestColdBurstMakesOneCall(t *testing.T) {
	h, as := startWithAS(t)
	as.Claims("cold", goodClaims(nil))
	as.SetDelay(100 * time.Millisecond) // long enough for every check to arrive
	const n = 200
	start := make(chan struct{})
	allowed := make(chan bool, n)
	for range n {
		go func() {
			<-start
			resp, err := h.client.Check(context.Background(), orders("cold").proto())
			allowed <- err == nil && resp.GetOkResponse() != nil
		}()
	}
	close(start)
	ok := 0
	for range n {
		if <-allowed {
			ok++
		}
	}
	if ok != n {
		t.Errorf("%d of %d allowed", ok, n)
	}
	wantCalls(t, as, "cold", 1, "a cold burst")
}

func TestInactiveTokenIsNegativelyCached(t *testing.T) {
	h, as := startWithAS(t)
	for i := 0; i < 20; i++ {
		if a := h.check(t, orders("nope")); a.reason != "inactive" {
			t.Fatalf("check %d: %s", i, a.reason)
		}
	}
	wantCalls(t, as, "nope", 1, "within negative_ttl")
}

func TestIntrospectionErrorsAreNotCached(t *testing.T) {
	h, as := startWithAS(t)
	as.Raw("flaky", 500, "oops")
	for i := 0; i < 3; i++ {
		if a := h.check(t, orders("flaky")); a.reason != "introspection_error" {
			t.Fatalf("check %d: %s", i, a.reason)
		}
	}
	as.Claims("flaky", goodClaims(nil))
	if a := h.check(t, orders("flaky")); !a.allow {
		t.Fatalf("after recovery: %s", a.reason)
	}
	wantCalls(t, as, "flaky", 4, "errors are not cached")
}

func TestReloadKeepsUnchangedTenantsCaches(t *testing.T) {
	as := introspectiontest.New(t)
	as.Claims("a", goodClaims(nil))
	as.Claims("g", goodClaims(nil))
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	h := startHarnessAt(t, path)
	h.check(t, orders("a"))
	h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer g"})

	// Change only globex's introspection settings and acme's routes.
	cfg := testConfig(as.URL)
	cfg = strings.Replace(cfg, `client_secret: "other"`, `client_secret: "rotated"`, 1)
	cfg = strings.Replace(cfg, `methods: ["GET", "HEAD"]`, `methods: ["GET", "HEAD", "OPTIONS"]`, 1)
	testsupport.WriteFile(t, path, cfg)
	if err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.check(t, orders("a"))
	h.check(t, req{host: "api.globex.example", path: "/", auth: "Bearer g"})
	wantCalls(t, as, "a", 1, "acme is unchanged: its cache should survive")
	wantCalls(t, as, "g", 2, "globex changed: its cache should start empty")
}
