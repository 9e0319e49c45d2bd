package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// newFake is an authorization server whose answers answer gives.
func newFake(answer func(string) (*introspection.Claims, error)) *introspectiontest.Introspector {
	f := introspectiontest.NewIntrospector()
	f.AnswerFunc(func(_ context.Context, token string) (introspection.Result, error) {
		c, err := answer(token)
		return introspection.Result{Claims: c, Cache: introspection.CacheNone}, err
	})
	return f
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

// cached is st's layer over next, as a *Cache (for its Store).
func cached(st *Store, next introspection.Introspector, callTimeout time.Duration) *Cache {
	return st.Middleware(callTimeout)(next).(*Cache)
}

// slowCache is a cache whose calls time out after callTimeout in front of
// a server that calls every token active after delay.
func slowCache(delay, callTimeout time.Duration) (*introspectiontest.Introspector, *Cache) {
	as := newFake(active(time.Hour))
	as.SetDelay(delay)
	return as, cached(NewStore(opts()), as, callTimeout)
}

// wantCalls fails the test unless as was asked n times about token.
func wantCalls(t *testing.T, as *introspectiontest.Introspector, token string, n int) {
	t.Helper()
	if got := as.Calls(token); got != n {
		t.Fatalf("calls about %s = %d, want %d", token, got, n)
	}
}

// wantCache fails the test, saying what was checked, unless c answers
// token from where status says.
func wantCache(t *testing.T, c introspection.Introspector, token string, status introspection.CacheStatus, what string) {
	t.Helper()
	if r := introspect(t, c, token); r.Cache != status {
		t.Fatalf("%s: %s, want %s", what, r.Cache, status)
	}
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
	c := cached(NewStore(opts()), as, time.Second)
	if r := introspect(t, c, "t1"); r.Cache != introspection.CacheMiss || !r.Claims.Active {
		t.Fatalf("first: %+v", r)
	}
	for i := 0; i < 5; i++ {
		if r := introspect(t, c, "t1"); r.Cache != introspection.CacheHit {
			t.Fatalf("repeat %d: %s", i, r.Cache)
		}
	}
	wantCalls(t, as, "t1", 1)
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	as, c := slowCache(100*time.Millisecond, time.Second)
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
	if calls := as.Calls("cold"); calls != 1 {
		t.Fatalf("authorization server calls = %d, want 1", calls)
	}
	if got[introspection.CacheMiss] != 1 || got[introspection.CacheMiss]+got[introspection.CacheCoalesced]+got[introspection.CacheHit] != n {
		t.Errorf("statuses = %v", got)
	}
}

func TestPositiveLifetimeBoundedByExp(t *testing.T) {
	as := newFake(active(300 * time.Millisecond))
	c := cached(NewStore(opts()), as, time.Second)
	introspect(t, c, "short")
	wantCache(t, c, "short", introspection.CacheHit, "before exp")
	time.Sleep(400 * time.Millisecond)
	wantCache(t, c, "short", introspection.CacheMiss, "after exp (lifetime not bounded by exp)")
	wantCalls(t, as, "short", 2)
}

func TestPositiveLifetimeBoundedByMaxTTLAndHitsDoNotExtend(t *testing.T) {
	as := newFake(active(0)) // no exp: max_ttl alone
	o := opts()
	o.MaxTTL = 800 * time.Millisecond // slack for sleeps that overrun on a loaded machine
	c := cached(NewStore(o), as, time.Second)
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
	wantCache(t, c, "t", introspection.CacheMiss, "after max_ttl")
}

func TestExpiredActiveAnswerIsNotStored(t *testing.T) {
	as := newFake(active(-time.Minute))
	c := cached(NewStore(opts()), as, time.Second)
	introspect(t, c, "old")
	wantCache(t, c, "old", introspection.CacheMiss, "expired token was cached")
}

func TestNegativeLifetime(t *testing.T) {
	as := newFake(inactive)
	o := opts()
	o.NegativeTTL = 300 * time.Millisecond
	c := cached(NewStore(o), as, time.Second)
	if r := introspect(t, c, "bad"); r.Cache != introspection.CacheMiss || r.Claims.Active {
		t.Fatalf("first: %+v", r)
	}
	wantCache(t, c, "bad", introspection.CacheNegativeHit, "second")
	time.Sleep(400 * time.Millisecond)
	wantCache(t, c, "bad", introspection.CacheMiss, "after negative_ttl")
	wantCalls(t, as, "bad", 2)
}

func TestZeroNegativeTTLStoresNothing(t *testing.T) {
	as := newFake(inactive)
	o := opts()
	o.NegativeTTL = 0
	c := cached(NewStore(o), as, time.Second)
	introspect(t, c, "bad")
	introspect(t, c, "bad")
	wantCalls(t, as, "bad", 2)
}

func TestErrorsAreNeverCached(t *testing.T) {
	fail := true
	as := newFake(func(string) (*introspection.Claims, error) {
		if fail {
			return nil, fmt.Errorf("%w: boom", introspection.ErrIntrospection)
		}
		return &introspection.Claims{Active: true}, nil
	})
	c := cached(NewStore(opts()), as, time.Second)
	for i := 0; i < 3; i++ {
		if _, err := c.Introspect(context.Background(), "t"); !errors.Is(err, introspection.ErrIntrospection) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	fail = false
	if r := introspect(t, c, "t"); r.Cache != introspection.CacheMiss || !r.Claims.Active {
		t.Fatalf("after recovery: %+v", r)
	}
	wantCalls(t, as, "t", 4)
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
	ca, cb := cached(a, asA, time.Second), cached(b, asB, time.Second)
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
	c := cached(NewStore(o), as, time.Second)
	for i := 0; i < 10; i++ {
		introspect(t, c, fmt.Sprintf("good-%d", i))
	}
	for i := 0; i < 1000; i++ { // a flood of random tokens
		introspect(t, c, fmt.Sprintf("flood-%d", i))
		if n := c.Store().Len(); n > 100 {
			t.Fatalf("store holds %d entries, bound 100", n)
		}
	}
	if n := c.Store().Len(); n != 100 { // the flood's answers beyond the bound were not kept
		t.Fatalf("store holds %d entries after the flood, want 100", n)
	}
	for i := 0; i < 10; i++ {
		wantCache(t, c, fmt.Sprintf("good-%d", i), introspection.CacheHit, "a real user's token was pushed out by the flood")
	}
	// A new positive entry makes room by dropping negative ones.
	if r := introspect(t, c, "good-new"); r.Cache != introspection.CacheMiss {
		t.Fatal(r.Cache)
	}
	wantCache(t, c, "good-new", introspection.CacheHit, "new positive entry not stored when full")
}

func TestWaiterGivesUpAtItsOwnDeadlineWhileTheCallCompletes(t *testing.T) {
	as, c := slowCache(300*time.Millisecond, time.Second)
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
	wantCalls(t, as, "slow", 1)
}

func TestCallerCancellationDoesNotCancelTheSharedCall(t *testing.T) {
	_, c := slowCache(150*time.Millisecond, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Introspect(ctx, "t"); err == nil {
		t.Fatal("the impatient caller got an answer")
	}
	time.Sleep(250 * time.Millisecond)
	wantCache(t, c, "t", introspection.CacheHit, "the shared call's answer was not stored")
}

func TestSharedCallBoundedByCallTimeout(t *testing.T) {
	_, c := slowCache(time.Second, 100*time.Millisecond)
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
	c := cached(NewStore(opts()), as, time.Second)
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
