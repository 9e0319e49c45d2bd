package dpop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(testNow.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMemoryReplayCache(t *testing.T) {
	clock := newFakeClock()
	c := NewMemoryReplayCache(MemoryOptions{Now: clock.Now})
	ctx := context.Background()
	seen := func(tenant, jti string, ttl time.Duration) bool {
		t.Helper()
		replayed, err := c.Seen(ctx, tenant, jti, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return replayed
	}
	if seen("acme", "j1", time.Minute) {
		t.Fatal("first use is a replay")
	}
	if !seen("acme", "j1", time.Minute) {
		t.Fatal("second use is not a replay")
	}
	if seen("other", "j1", time.Minute) {
		t.Fatal("a jti of one tenant counts for another")
	}
	// Length-prefixed tenant: ("ab","c") and ("a","bc") are different keys.
	if seen("ab", "c", time.Minute) || seen("a", "bc", time.Minute) {
		t.Fatal("tenant and jti run together")
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if !seen("acme", "j1", time.Minute) {
		t.Fatal("forgotten before its ttl")
	}
	clock.Advance(time.Nanosecond)
	if seen("acme", "j1", time.Minute) {
		t.Fatal("remembered after its ttl")
	}
	if _, err := c.Seen(ctx, "acme", "j2", 0); err == nil {
		t.Fatal("a zero ttl is accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Seen(cancelled, "acme", "j3", time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// A full cache refuses new jtis (fails closed) and makes room only as
// entries expire; it never forgets a live one.
func TestMemoryReplayCacheFull(t *testing.T) {
	clock := newFakeClock()
	c := NewMemoryReplayCache(MemoryOptions{MaxEntries: 4, Shards: 1, Now: clock.Now})
	ctx := context.Background()
	for i := range 4 {
		if replayed, err := c.Seen(ctx, "acme", fmt.Sprint("j", i), time.Duration(i+1)*time.Second); replayed || err != nil {
			t.Fatalf("j%d: %v %v", i, replayed, err)
		}
	}
	if _, err := c.Seen(ctx, "acme", "j4", time.Second); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	for i := range 4 {
		if replayed, _ := c.Seen(ctx, "acme", fmt.Sprint("j", i), time.Second); !replayed {
			t.Fatalf("j%d forgotten while the cache was full", i)
		}
	}
	clock.Advance(time.Second) // j0 expires
	if replayed, err := c.Seen(ctx, "acme", "j4", time.Second); replayed || err != nil {
		t.Fatalf("after expiry: %v %v", replayed, err)
	}
	if c.Len() != 4 {
		t.Fatalf("len %d", c.Len())
	}
	clock.Advance(time.Hour)
	if replayed, err := c.Seen(ctx, "acme", "j5", time.Second); replayed || err != nil || c.Len() != 1 {
		t.Fatalf("after all expired: %v %v, len %d", replayed, err, c.Len())
	}
}

// Many checks at once: of concurrent uses of one jti exactly one is first;
// distinct jtis are never replays (run with -race).
func TestMemoryReplayCacheConcurrent(t *testing.T) {
	c := NewMemoryReplayCache(MemoryOptions{Shards: 8})
	ctx := context.Background()
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if replayed, err := c.Seen(ctx, "acme", "shared", time.Minute); err != nil {
					t.Error(err)
				} else if !replayed {
					firsts.Add(1)
				}
				if replayed, err := c.Seen(ctx, "acme", fmt.Sprint(g, "-", i), time.Minute); replayed || err != nil {
					t.Errorf("distinct jti: %v %v", replayed, err)
				}
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d first uses of one jti", firsts.Load())
	}
}

func TestCheckReplay(t *testing.T) {
	v := newTestVerifier(t, Options{Leeway: 5 * time.Second})
	clock := newFakeClock()
	c := NewMemoryReplayCache(MemoryOptions{Now: clock.Now})
	p := Proof{JTI: "j1"}
	ctx := context.Background()
	if err := v.CheckReplay(ctx, c, "acme", p); err != nil {
		t.Fatal(err)
	}
	err := v.CheckReplay(ctx, c, "acme", p)
	wantInvalid(t, err, "DPoP proof has been used before (jti)")
	if !errors.Is(err, ErrReplayed) {
		t.Fatal("not ErrReplayed")
	}
	clock.Advance(v.ReplayWindow())
	if err := v.CheckReplay(ctx, c, "acme", p); err != nil {
		t.Fatalf("after the window (%v): %v", v.ReplayWindow(), err)
	}
	// A cache that cannot answer is not a proof error.
	err = v.CheckReplay(ctx, failingCache{}, "acme", p)
	if err == nil || errors.Is(err, ErrInvalidProof) || !errors.Is(err, errDown) {
		t.Fatalf("failing cache: %v", err)
	}
}

var errDown = errors.New("down")

type failingCache struct{}

func (failingCache) Seen(context.Context, string, string, time.Duration) (bool, error) {
	return false, errDown
}

func TestCheckBinding(t *testing.T) {
	p := Proof{Thumbprint: rfcJKT}
	if err := CheckBinding(p, rfcJKT); err != nil {
		t.Fatal(err)
	}
	for _, jkt := range []string{"", rfcJKT[:42], rfcJKT + "A", "1ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"} {
		err := CheckBinding(p, jkt)
		if !errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrInvalidProof) {
			t.Errorf("jkt %q: %v", jkt, err)
		}
	}
	if CheckBinding(Proof{}, "") == nil {
		t.Fatal("empty thumbprint and jkt bind")
	}
}
