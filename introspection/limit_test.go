package introspection_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// blockingIntrospector counts calls in flight and blocks each until gate is
// closed; it answers with err if set.
type blockingIntrospector struct {
	gate     chan struct{}
	err      error
	inFlight atomic.Int32
	peak     atomic.Int32
	calls    atomic.Int32
}

func (b *blockingIntrospector) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	b.calls.Add(1)
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return introspection.Result{}, ctx.Err()
		}
	}
	if b.err != nil {
		return introspection.Result{}, b.err
	}
	return introspection.Result{Claims: &introspection.Claims{Active: true, Subject: token}, Cache: introspection.CacheMiss}, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLimitPeak(t *testing.T) {
	t.Parallel()
	next := &blockingIntrospector{gate: make(chan struct{})}
	lim := introspection.Limit(next, 2)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 20 {
		wg.Go(func() {
			res, err := lim.Introspect(context.Background(), "t")
			if err == nil && res.Claims.Subject == "t" && res.Cache == introspection.CacheMiss {
				ok.Add(1)
			}
		})
	}
	waitFor(t, "two calls in flight", func() bool { return next.inFlight.Load() == 2 })
	// Give the other 18 a chance to get in if the limiter let them.
	time.Sleep(50 * time.Millisecond)
	if n := next.inFlight.Load(); n != 2 {
		t.Errorf("%d calls in flight, want 2", n)
	}
	close(next.gate)
	wg.Wait()
	if p := next.peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	if n := ok.Load(); n != 20 {
		t.Errorf("%d callers got the result, want 20", n)
	}
}

func TestLimitWaiterGivesUp(t *testing.T) {
	t.Parallel()
	next := &blockingIntrospector{gate: make(chan struct{})}
	defer close(next.gate)
	lim := introspection.Limit(next, 1)
	go func() { _, _ = lim.Introspect(context.Background(), "holder") }()
	waitFor(t, "the slot to be taken", func() bool { return next.inFlight.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := lim.Introspect(ctx, "waiter")
	if time.Since(start) > 50*time.Millisecond+margin {
		t.Errorf("waited %v", time.Since(start))
	}
	if !errors.Is(err, introspection.ErrConcurrencyLimit) || !errors.Is(err, introspection.ErrIntrospection) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want ErrConcurrencyLimit, ErrIntrospection and the ctx error", err)
	}
	if res.Claims != nil {
		t.Errorf("claims %+v with an error", res.Claims)
	}
	if n := next.calls.Load(); n != 1 {
		t.Errorf("next called %d times, want 1 (the waiter must not get through)", n)
	}
}

func TestLimitReleasesSlots(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	lim := introspection.Limit(&blockingIntrospector{err: boom}, 1)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := lim.Introspect(ctx, "t")
		cancel()
		if !errors.Is(err, boom) {
			t.Fatalf("call %d: error = %v, want next's error (a leaked slot would give ErrConcurrencyLimit)", i, err)
		}
	}

	panicky := introspection.Limit(panicIntrospector{}, 1)
	for range 2 {
		func() {
			defer func() { _ = recover() }()
			_, _ = panicky.Introspect(context.Background(), "t")
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("slot leaked by a panicking call: the third call never reached next")
			}
		}()
		_, err := panicky.Introspect(ctx, "t")
		t.Errorf("error = %v", err)
	}()
}

type panicIntrospector struct{}

func (panicIntrospector) Introspect(context.Context, string) (introspection.Result, error) {
	panic("next failed")
}

func TestLimitNoLimit(t *testing.T) {
	t.Parallel()
	next := &blockingIntrospector{}
	if got := introspection.Limit(next, 0); got != introspection.Introspector(next) {
		t.Errorf("Limit(next, 0) = %T, want next itself", got)
	}
}
