package introspection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// blocking is an authorization server whose calls wait for Release; it
// calls every token active, with the token as its subject.
func blocking() *introspectiontest.Introspector {
	f := introspectiontest.NewIntrospector()
	f.AnswerFunc(func(_ context.Context, token string) (introspection.Result, error) {
		return introspection.Result{Claims: &introspection.Claims{Active: true, Subject: token}, Cache: introspection.CacheMiss}, nil
	})
	f.Block()
	return f
}

func TestLimitPeak(t *testing.T) {
	t.Parallel()
	next := blocking()
	lim := introspection.Limit(2)(next)
	const callers = 20
	got := make(chan bool, callers) // whether a caller got the result
	for range callers {
		go func() {
			res, err := lim.Introspect(context.Background(), "t")
			got <- err == nil && res.Claims.Subject == "t" && res.Cache == introspection.CacheMiss
		}()
	}
	testsupport.WaitFor(t, 5*time.Second, "two calls in flight", func() bool { return next.InFlight() == 2 })
	// Give the other 18 a chance to get in if the limiter let them.
	time.Sleep(50 * time.Millisecond)
	if n := next.InFlight(); n != 2 {
		t.Errorf("%d calls in flight, want 2", n)
	}
	next.Release()
	ok := 0
	for range callers {
		if <-got {
			ok++
		}
	}
	if p := next.PeakInFlight(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	if ok != callers {
		t.Errorf("%d callers got the result, want %d", ok, callers)
	}
}

func TestLimitWaiterGivesUp(t *testing.T) {
	t.Parallel()
	next := blocking()
	defer next.Release()
	lim := introspection.Limit(1)(next)
	go func() { _, _ = lim.Introspect(context.Background(), "holder") }()
	testsupport.WaitFor(t, 5*time.Second, "the slot to be taken", func() bool { return next.InFlight() == 1 })

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
	if n := next.Total(); n != 1 {
		t.Errorf("next called %d times, want 1 (the waiter must not get through)", n)
	}
}

func TestLimitReleasesSlots(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	failing := introspectiontest.NewIntrospector()
	failing.Fail("t", boom)
	lim := introspection.Limit(1)(failing)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := lim.Introspect(ctx, "t")
		cancel()
		if !errors.Is(err, boom) {
			t.Fatalf("call %d: error = %v, want next's error (a leaked slot would give ErrConcurrencyLimit)", i, err)
		}
	}

	panicking := introspectiontest.NewIntrospector()
	panicking.AnswerFunc(func(context.Context, string) (introspection.Result, error) { panic("next failed") })
	panicky := introspection.Limit(1)(panicking)
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

func TestLimitNoLimit(t *testing.T) {
	t.Parallel()
	next := introspectiontest.NewIntrospector()
	if got := introspection.Limit(0)(next); got != introspection.Introspector(next) {
		t.Errorf("Limit(0)(next) = %T, want next itself", got)
	}
}
