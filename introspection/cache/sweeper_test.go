package cache

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/testsupport"
)

// quietSweeper waits until no store is swept (those other tests made and
// dropped have been collected) and the sweeper's goroutine has ended, then
// makes the next one sweep every interval; it restores the interval at
// the end of the test. It returns the goroutine count without a sweeper.
func quietSweeper(t *testing.T, interval time.Duration) int {
	t.Helper()
	testsupport.WaitFor(t, 5*time.Second, "stores of other tests to be collected", func() bool {
		runtime.GC()
		return SweptStores() == 0
	})
	base := stableGoroutines()
	sweeper.mu.Lock()
	sweeper.interval = interval
	sweeper.mu.Unlock()
	t.Cleanup(func() {
		sweeper.mu.Lock()
		sweeper.interval = 0
		sweeper.mu.Unlock()
	})
	return base
}

// stableGoroutines is runtime.NumGoroutine once it has held still.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n = m
			continue
		}
		return n
	}
	return n
}

// Stores share one sweeping goroutine, which deletes their expired entries
// in the background, drops closed stores, and ends with the last one.
func TestOneSweeperForAllStores(t *testing.T) {
	base := quietSweeper(t, 20*time.Millisecond)
	o := opts()
	o.MaxTTL = 50 * time.Millisecond
	stores := make([]*Store, 100)
	for i := range stores {
		stores[i] = NewStore(o)
		cached(stores[i], newFake(active(time.Hour)), time.Second).Introspect(context.Background(), "t")
	}
	if g := stableGoroutines(); g != base+1 {
		t.Fatalf("%d goroutines with 100 stores, %d without: want one sweeper", g, base)
	}
	testsupport.WaitFor(t, 5*time.Second, "expired entries to be swept", func() bool {
		for _, st := range stores {
			if st.Len() != 0 {
				return false
			}
		}
		return true
	})
	for _, st := range stores[:50] {
		st.Close()
		st.Close() // twice is harmless
	}
	if n := SweptStores(); n != 50 {
		t.Fatalf("%d stores swept after closing 50 of 100", n)
	}
	for _, st := range stores[50:] {
		st.Close()
	}
	if n := SweptStores(); n != 0 {
		t.Fatalf("%d stores swept after closing all", n)
	}
	if g := stableGoroutines(); g != base {
		t.Fatalf("%d goroutines after closing every store, %d before: the sweeper did not stop", g, base)
	}
	// A closed store still answers, and never with an expired entry.
	st := stores[0]
	c := cached(st, newFake(active(time.Hour)), time.Second)
	introspect(t, c, "u")
	wantCache(t, c, "u", introspection.CacheHit, "closed store")
}

// A store nobody closed leaves the sweeper once it is garbage.
func TestSweeperDropsCollectedStores(t *testing.T) {
	base := quietSweeper(t, time.Hour)
	NewStore(opts())
	if n := SweptStores(); n != 1 {
		t.Fatalf("%d stores swept", n)
	}
	testsupport.WaitFor(t, 5*time.Second, "the store to be collected", func() bool {
		runtime.GC()
		return SweptStores() == 0
	})
	if g := stableGoroutines(); g != base {
		t.Fatalf("%d goroutines, %d before the store", g, base)
	}
}
