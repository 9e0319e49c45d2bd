package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// fakeAS is an introspection.Introspector that counts calls and peak
// concurrency, and can block until released.
type fakeAS struct {
	mu       sync.Mutex
	calls    map[string]int
	answer   func(token string) (*introspection.Claims, error)
	delay    time.Duration
	inFlight atomic.Int64
	peak     atomic.Int64
}

func newFake(answer func(string) (*introspection.Claims, error)) *fakeAS {
	return &fakeAS{calls: map[string]int{}, answer: answer}
}

func (f *fakeAS) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	f.mu.Lock()
	f.calls[token]++
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return introspection.Result{}, fmt.Errorf("%w: %w", introspection.ErrIntrospection, ctx.Err())
		}
	}
	c, err := f.answer(token)
	return introspection.Result{Claims: c, Cache: introspection.CacheNone}, err
}

func (f *fakeAS) count(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

func active(exp time.Duration) func(string) (*introspection.Claims, error) {
	return func(string) (*introspection.Claims, error) {
		c := &introspection.Claims{Active: true, Subject: "u"}
		if exp != 0 {
			c.Expiry = time.Now().Add(exp)
		}
		return c, nil
	}
}

func inactive(string) (*introspection.Claims, error) { return &introspection.Claims{}, nil }

func opts() Options {
	return Options{Tenant: "acme", MaxTTL: 5 * time.Minute, NegativeTTL: 10 * time.Second, MaxEntries: 1000}
}

func introspect(t *testing.T, c introspection.Introspector, token string) introspection.Result {
	t.Helper()
	res, err := c.Introspect(context.Background(), token)
	if err != nil {
		t.Fatalf("Introspect(%s): %v", token, err)
	}
	return res
}

func TestMissThenHit(t *testing.T) {
	as := newFake(active(time.Hour))
	c := NewStore(opts()).Wrap(as, time.Second)
	if r := introspect(t, c, "t1"); r.Cache != introspection.CacheMiss || !r.Claims.Active {
		t.Fatalf("first: %+v", r)
	}
	for i := 0; i < 5; i++ {
		if r := introspect(t, c, "t1"); r.Cache != introspection.CacheHit {
			t.Fatalf("repeat %d: %s", i, r.Cache)
		}
	}
	if n := as.count("t1"); n != 1 {
		t.Fatalf("calls = %d, want 1", n)
	}
	st := c.Store().Stats()
	if st.Misses.Load() != 1 || st.Hits.Load() != 5 {
		t.Errorf("stats: misses %d hits %d", st.Misses.Load(), st.Hits.Load())
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	as := newFake(active(time.Hour))
	as.delay = 100 * time.Millisecond
	c := NewStore(opts()).Wrap(as, time.Second)
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make(chan introspection.CacheStatus, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.Introspect(context.Background(), "cold")
			if err != nil || !r.Claims.Active {
				t.Errorf("coalesced call: %+v %v", r, err)
			}
			statuses <- r.Cache
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	got := map[introspection.CacheStatus]int{}
	for s := range statuses {
		got[s]++
	}
	if calls := as.count("cold"); calls != 1 {
		t.Fatalf("authorization server calls = %d, want 1", calls)
	}
	if got[introspection.CacheMiss] != 1 || got[introspection.CacheMiss]+got[introspection.CacheCoalesced]+got[introspection.CacheHit] != n {
		t.Errorf("statuses = %v", got)
	}
}

func TestPositiveLifetimeBoundedByExp(t *testing.T) {
	as := newFake(active(300 * time.Millisecond))
	c := NewStore(opts()).Wrap(as, time.Second)
	introspect(t, c, "short")
	if r := introspect(t, c, "short"); r.Cache != introspection.CacheHit {
		t.Fatalf("before exp: %s", r.Cache)
	}
	time.Sleep(400 * time.Millisecond)
	if r := introspect(t, c, "short"); r.Cache != introspection.CacheMiss {
		t.Fatalf("after exp: %s (lifetime not bounded by exp)", r.Cache)
	}
	if n := as.count("short"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
}

func TestPositiveLifetimeBoundedByMaxTTLAndHitsDoNotExtend(t *testing.T) {
	as := newFake(active(0)) // no exp: max_ttl alone
	o := opts()
	o.MaxTTL = 800 * time.Millisecond // slack for sleeps that overrun on a loaded machine
	c := NewStore(o).Wrap(as, time.Second)
	start := time.Now()
	introspect(t, c, "t")
	for i := 0; i < 4; i++ { // hits over 200ms must not push the expiry
		time.Sleep(50 * time.Millisecond)
		r := introspect(t, c, "t")
		if r.Cache != introspection.CacheHit && time.Since(start) < o.MaxTTL {
			t.Fatalf("hit %d: %s", i, r.Cache)
		}
	}
	time.Sleep(time.Until(start.Add(o.MaxTTL + 100*time.Millisecond)))
	if r := introspect(t, c, "t"); r.Cache != introspection.CacheMiss {
		t.Fatalf("after max_ttl: %s", r.Cache)
	}
}

func TestExpiredActiveAnswerIsNotStored(t *testing.T) {
	as := newFake(active(-time.Minute))
	c := NewStore(opts()).Wrap(as, time.Second)
	introspect(t, c, "old")
	if r := introspect(t, c, "old"); r.Cache != introspection.CacheMiss {
		t.Fatalf("expired token was cached: %s", r.Cache)
	}
}

func TestNegativeLifetime(t *testing.T) {
	as := newFake(inactive)
	o := opts()
	o.NegativeTTL = 300 * time.Millisecond
	c := NewStore(o).Wrap(as, time.Second)
	if r := introspect(t, c, "bad"); r.Cache != introspection.CacheMiss || r.Claims.Active {
		t.Fatalf("first: %+v", r)
	}
	if r := introspect(t, c, "bad"); r.Cache != introspection.CacheNegativeHit {
		t.Fatalf("second: %s", r.Cache)
	}
	time.Sleep(400 * time.Millisecond)
	if r := introspect(t, c, "bad"); r.Cache != introspection.CacheMiss {
		t.Fatalf("after negative_ttl: %s", r.Cache)
	}
	if n := as.count("bad"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
}

func TestZeroNegativeTTLStoresNothing(t *testing.T) {
	as := newFake(inactive)
	o := opts()
	o.NegativeTTL = 0
	c := NewStore(o).Wrap(as, time.Second)
	introspect(t, c, "bad")
	introspect(t, c, "bad")
	if n := as.count("bad"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
}

func TestErrorsAreNeverCached(t *testing.T) {
	fail := true
	as := newFake(func(string) (*introspection.Claims, error) {
		if fail {
			return nil, fmt.Errorf("%w: boom", introspection.ErrIntrospection)
		}
		return &introspection.Claims{Active: true}, nil
	})
	c := NewStore(opts()).Wrap(as, time.Second)
	for i := 0; i < 3; i++ {
		if _, err := c.Introspect(context.Background(), "t"); !errors.Is(err, introspection.ErrIntrospection) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	fail = false
	if r := introspect(t, c, "t"); r.Cache != introspection.CacheMiss || !r.Claims.Active {
		t.Fatalf("after recovery: %+v", r)
	}
	if n := as.count("t"); n != 4 {
		t.Fatalf("calls = %d, want 4", n)
	}
}

func TestTenantsNeverShare(t *testing.T) {
	asA, asB := newFake(active(time.Hour)), newFake(inactive)
	oa, ob := opts(), opts()
	ob.Tenant = "globex"
	a, b := NewStore(oa), NewStore(ob)
	if a.key("same") == b.key("same") {
		t.Fatal("two tenants give one key")
	}
	if a.key("same") == a.key("same2") || len(a.key("x")) != 32 {
		t.Fatal("key is not a SHA-256 of the token")
	}
	ca, cb := a.Wrap(asA, time.Second), b.Wrap(asB, time.Second)
	introspect(t, ca, "same")
	if r := introspect(t, cb, "same"); r.Claims.Active || r.Cache != introspection.CacheMiss {
		t.Fatalf("tenant b got tenant a's answer: %+v", r)
	}
}

func TestEntryBoundPrefersPositiveEntries(t *testing.T) {
	as := newFake(func(token string) (*introspection.Claims, error) {
		if token[0] == 'g' {
			return &introspection.Claims{Active: true, Expiry: time.Now().Add(time.Hour)}, nil
		}
		return &introspection.Claims{}, nil
	})
	o := opts()
	o.MaxEntries = 100
	c := NewStore(o).Wrap(as, time.Second)
	for i := 0; i < 10; i++ {
		introspect(t, c, fmt.Sprintf("good-%d", i))
	}
	for i := 0; i < 1000; i++ { // a flood of random tokens
		introspect(t, c, fmt.Sprintf("flood-%d", i))
		if n := c.Store().Len(); n > 100 {
			t.Fatalf("store holds %d entries, bound 100", n)
		}
	}
	for i := 0; i < 10; i++ {
		if r := introspect(t, c, fmt.Sprintf("good-%d", i)); r.Cache != introspection.CacheHit {
			t.Fatalf("a real user's token was pushed out by the flood: %s", r.Cache)
		}
	}
	// A new positive entry makes room by dropping negative ones.
	if r := introspect(t, c, "good-new"); r.Cache != introspection.CacheMiss {
		t.Fatal(r.Cache)
	}
	if r := introspect(t, c, "good-new"); r.Cache != introspection.CacheHit {
		t.Fatalf("new positive entry not stored when full: %s", r.Cache)
	}
	st := c.Store().Stats()
	if st.Refusals.Load() == 0 || st.Evictions.Load() == 0 {
		t.Errorf("refusals %d evictions %d: want both > 0", st.Refusals.Load(), st.Evictions.Load())
	}
}

func TestWaiterGivesUpAtItsOwnDeadlineWhileTheCallCompletes(t *testing.T) {
	as := newFake(active(time.Hour))
	as.delay = 300 * time.Millisecond
	c := NewStore(opts()).Wrap(as, time.Second)
	leaderDone := make(chan introspection.Result, 1)
	go func() {
		r, _ := c.Introspect(context.Background(), "slow")
		leaderDone <- r
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := c.Introspect(ctx, "slow")
	if !errors.Is(err, introspection.ErrIntrospection) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter err = %v", err)
	}
	if waited := time.Since(begin); waited > 200*time.Millisecond {
		t.Fatalf("waiter waited %v past its deadline", waited)
	}
	if r := <-leaderDone; !r.Claims.Active || r.Cache != introspection.CacheMiss {
		t.Fatalf("leader: %+v", r)
	}
	if n := as.count("slow"); n != 1 {
		t.Fatalf("calls = %d", n)
	}
}

func TestCallerCancellationDoesNotCancelTheSharedCall(t *testing.T) {
	as := newFake(active(time.Hour))
	as.delay = 150 * time.Millisecond
	c := NewStore(opts()).Wrap(as, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Introspect(ctx, "t"); err == nil {
		t.Fatal("the impatient caller got an answer")
	}
	time.Sleep(250 * time.Millisecond)
	if r := introspect(t, c, "t"); r.Cache != introspection.CacheHit {
		t.Fatalf("the shared call's answer was not stored: %s", r.Cache)
	}
}

func TestSharedCallBoundedByCallTimeout(t *testing.T) {
	as := newFake(active(time.Hour))
	as.delay = time.Second
	c := NewStore(opts()).Wrap(as, 100*time.Millisecond)
	begin := time.Now()
	if _, err := c.Introspect(context.Background(), "t"); err == nil {
		t.Fatal("no error past the call timeout")
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Fatalf("took %v, call timeout 100ms", d)
	}
}

func BenchmarkHit(b *testing.B) {
	as := newFake(active(time.Hour))
	c := NewStore(opts()).Wrap(as, time.Second)
	ctx := context.Background()
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyIsInNjb3BlIjoib3JkZXJzLnJlYWQifQ.c2lnbmF0dXJl"
	if _, err := c.Introspect(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := c.Introspect(ctx, token); err != nil || r.Cache != introspection.CacheHit {
				b.Fatal(r.Cache, err)
			}
		}
	})
}
