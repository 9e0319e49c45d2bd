package sharedcache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/introspection/sharedcache"
)

// TestReplayCache: jtis are shared through the store; its failures are
// errors (the caller falls back) and counted, and once the breaker sets the
// store aside they say so without asking it.
func TestReplayCache(t *testing.T) {
	store, clock := newFakeStore()
	sh := onFake(t, store, clock, sharedcache.Options{BreakerThreshold: 2, BreakerCoolDown: time.Hour})
	if (*sharedcache.Shared)(nil).ReplayCache(store) != nil {
		t.Fatal("a nil Shared has a replay cache")
	}
	rc := sh.ReplayCache(store)
	ctx := context.Background()
	for i, want := range []bool{false, true} {
		if replayed, err := rc.Seen(ctx, "acme", "j1", time.Minute); err != nil || replayed != want {
			t.Fatalf("use %d: %v %v", i+1, replayed, err)
		}
	}
	clock.Advance(time.Minute)
	if replayed, err := rc.Seen(ctx, "acme", "j1", time.Minute); err != nil || replayed {
		t.Fatalf("after the window: %v %v", replayed, err)
	}
	down := errors.New("redis down")
	store.Fail(down)
	for range 2 {
		if _, err := rc.Seen(ctx, "acme", "j2", time.Minute); !errors.Is(err, down) {
			t.Fatalf("store down: %v", err)
		}
	}
	calls := store.Calls()
	if _, err := rc.Seen(ctx, "acme", "j3", time.Minute); !errors.Is(err, dpop.ErrReplayCacheSkipped) || store.Calls() != calls {
		t.Fatalf("breaker open: %v, %d store calls", err, store.Calls()-calls)
	}
	if n := sh.Stats().ReplayFallbacks.Load(); n != 3 {
		t.Fatalf("fallbacks %d, want 3", n)
	}
}
