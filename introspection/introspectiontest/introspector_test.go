package introspectiontest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func TestIntrospectorAnswers(t *testing.T) {
	f := introspectiontest.NewIntrospector()
	ctx := context.Background()
	active := introspection.Result{Claims: &introspection.Claims{Active: true, Subject: "u1"}, Cache: introspection.CacheMiss}
	f.Answer("good", active)
	boom := errors.New("boom")
	f.Fail("bad", boom)

	if res, err := f.Introspect(ctx, "good"); err != nil || res != active {
		t.Fatalf("good: %+v %v", res, err)
	}
	if _, err := f.Introspect(ctx, "bad"); err != boom {
		t.Fatalf("bad: %v", err)
	}
	if res, err := f.Introspect(ctx, "unknown"); err != nil || res.Claims == nil || res.Claims.Active || res.Cache != introspection.CacheNone {
		t.Fatalf("unknown: %+v %v", res, err)
	}
	f.AnswerFunc(func(_ context.Context, token string) (introspection.Result, error) {
		return introspection.Result{Claims: &introspection.Claims{Active: true, Subject: token}}, nil
	})
	if res, _ := f.Introspect(ctx, "other"); res.Claims.Subject != "other" {
		t.Fatalf("func: %+v", res.Claims)
	}
	if res, _ := f.Introspect(ctx, "good"); res != active {
		t.Fatal("a token's own answer lost to the func")
	}
	f.AnswerAll(active)
	if res, _ := f.Introspect(ctx, "other"); res != active {
		t.Fatalf("all: %+v", res)
	}
	if f.Calls("good") != 2 || f.Calls("bad") != 1 || f.Total() != 6 {
		t.Fatalf("calls good=%d bad=%d total=%d", f.Calls("good"), f.Calls("bad"), f.Total())
	}
}

func TestIntrospectorDelayBlockAndPeak(t *testing.T) {
	f := introspectiontest.NewIntrospector()
	f.SetDelay(100 * time.Millisecond)
	start := time.Now()
	if _, err := f.Introspect(context.Background(), "t"); err != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("delay: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.Introspect(ctx, "t"); !errors.Is(err, introspection.ErrIntrospection) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delay past the deadline: %v", err)
	}
	f.SetDelay(0)

	f.Block()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := f.Introspect(context.Background(), "held"); err != nil {
				t.Error(err)
			}
		})
	}
	testsupport.WaitFor(t, 5*time.Second, "3 calls in flight", func() bool { return f.InFlight() == 3 })
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := f.Introspect(ctx2, "held"); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked call of a cancelled caller: %v", err)
	}
	f.Release()
	wg.Wait()
	if f.PeakInFlight() != 4 || f.InFlight() != 0 || f.Calls("held") != 4 {
		t.Fatalf("peak %d, in flight %d, calls %d", f.PeakInFlight(), f.InFlight(), f.Calls("held"))
	}
	if _, err := f.Introspect(context.Background(), "after"); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

func TestActive(t *testing.T) {
	res, err := introspectiontest.Active().Introspect(context.Background(), "any")
	if err != nil || !res.Claims.Active || string(res.Claims.Raw["active"]) != "true" || res.Cache != introspection.CacheNone {
		t.Fatalf("%+v %v", res, err)
	}
}
