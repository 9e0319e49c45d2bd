package introspection_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// The breaker's states (closed, open, half-open and its probe) and its
// settings; what counts as a failure is in breaker_counts_test.go.

// switchable answers with err when it is set, else with res.
type switchable struct {
	*introspectiontest.Introspector
	mu  sync.Mutex
	err error
	res introspection.Result
}

func newSwitchable(err error) *switchable {
	s := &switchable{Introspector: introspectiontest.NewIntrospector(), err: err, res: active}
	s.AnswerFunc(s.answer)
	return s
}

func (s *switchable) answer(context.Context, string) (introspection.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return introspection.Result{}, s.err
	}
	return s.res, nil
}

func (s *switchable) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

type transition struct{ from, to introspection.BreakerState }

// recorder collects a breaker's state changes and log lines.
type recorder struct {
	mu   sync.Mutex
	seen []transition
	logs bytes.Buffer
	opts introspection.BreakerOptions
}

func newRecorder(coolDown time.Duration) *recorder {
	r := &recorder{}
	r.opts = introspection.BreakerOptions{
		Tenant:   "acme",
		CoolDown: coolDown,
		Logger:   slog.New(slog.NewJSONHandler(syncWriter{r}, nil)),
		OnStateChange: func(tenant string, from, to introspection.BreakerState) {
			if tenant != "acme" {
				panic("hook got tenant " + tenant)
			}
			r.mu.Lock()
			r.seen = append(r.seen, transition{from, to})
			r.mu.Unlock()
		},
	}
	return r
}

type syncWriter struct{ r *recorder }

func (w syncWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.logs.Write(p)
}

func (r *recorder) transitions() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.seen...)
}

// quiet is a breaker that logs nothing.
func quiet(coolDown time.Duration) introspection.BreakerOptions {
	return introspection.BreakerOptions{Tenant: "acme", CoolDown: coolDown, Logger: slog.New(slog.DiscardHandler)}
}

func call(b introspection.Introspector) error {
	_, err := b.Introspect(context.Background(), "tok")
	return err
}

// trip fails as many calls through b as it takes a run to open the breaker
// (with next failing).
func trip(b introspection.Introspector) {
	for range introspection.BreakerConsecutiveFailures {
		_ = call(b)
	}
}

// wantState stops the test unless cb is in state want; after says what led
// there.
func wantState(t *testing.T, cb *introspection.CircuitBreaker, want introspection.BreakerState, after string) {
	t.Helper()
	if got := cb.State(); got != want {
		t.Fatalf("state %v after %s, want %v", got, after, want)
	}
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	t.Parallel()
	rec := newRecorder(time.Hour)
	next := newSwitchable(errServer)
	cb := introspection.NewCircuitBreaker(rec.opts)
	b := cb.Middleware()(next)
	for i := range introspection.BreakerConsecutiveFailures {
		if err := call(b); err != errServer {
			t.Fatalf("call %d: error %v, want the server's own", i+1, err)
		}
	}
	wantState(t, cb, introspection.BreakerOpen, "a run of failures")
	start := time.Now()
	err := call(b)
	if !errors.Is(err, introspection.ErrCircuitOpen) || !errors.Is(err, introspection.ErrIntrospection) {
		t.Fatalf("open breaker: error %v, want ErrCircuitOpen and ErrIntrospection", err)
	}
	if !strings.Contains(err.Error(), "tenant acme") {
		t.Errorf("error %q does not name the tenant", err)
	}
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("open breaker took %v to refuse", d)
	}
	if n := next.Total(); n != introspection.BreakerConsecutiveFailures {
		t.Errorf("next called %d times, want %d", n, introspection.BreakerConsecutiveFailures)
	}
	if got := rec.transitions(); len(got) != 1 || got[0] != (transition{introspection.BreakerClosed, introspection.BreakerOpen}) {
		t.Errorf("transitions %v, want closed→open", got)
	}
	logs := rec.logs.String()
	for _, want := range []string{`"level":"WARN"`, `"msg":"circuit breaker state changed"`, `"tenant":"acme"`, `"from":"closed"`, `"to":"open"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s: %s", want, logs)
		}
	}
}

func TestBreakerOpensOnFailureRatio(t *testing.T) {
	t.Parallel()
	cb := introspection.NewCircuitBreaker(quiet(time.Hour))
	b := cb.Middleware()(failEvery(2))
	for i := 1; i < introspection.BreakerMinCalls; i++ {
		_ = call(b)
		wantState(t, cb, introspection.BreakerClosed, fmt.Sprintf("%d calls, before the ratio has %d", i, introspection.BreakerMinCalls))
	}
	_ = call(b) // the 20th: 10 failures of 20
	wantState(t, cb, introspection.BreakerOpen, "alternating calls up to the minimum")
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()
	const coolDown = 50 * time.Millisecond
	rec := newRecorder(coolDown)
	next := newSwitchable(errServer)
	cb := introspection.NewCircuitBreaker(rec.opts)
	b := cb.Middleware()(next)
	trip(b)
	time.Sleep(coolDown + 10*time.Millisecond)

	// A failing probe opens it again for another cool-down.
	before := next.Total()
	if err := call(b); err != errServer {
		t.Fatalf("probe: %v, want the server's error", err)
	}
	wantState(t, cb, introspection.BreakerOpen, "a failed probe")
	if err := call(b); !errors.Is(err, introspection.ErrCircuitOpen) || next.Total() != before+1 {
		t.Fatalf("after a failed probe: %v, %d calls", err, next.Total()-before)
	}
	time.Sleep(coolDown + 10*time.Millisecond)

	// While the probe is in flight, other calls fail fast.
	next.set(nil)
	next.Block()
	probe := make(chan error, 1)
	go func() { probe <- call(b) }()
	testsupport.WaitFor(t, 5*time.Second, "the probe to reach next", func() bool { return next.Total() == before+2 })
	if err := call(b); !errors.Is(err, introspection.ErrCircuitOpen) || !errors.Is(err, introspection.ErrIntrospection) {
		t.Fatalf("second call while probing: %v", err)
	}
	next.Release()
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	wantState(t, cb, introspection.BreakerClosed, "a successful probe")
	want := []transition{
		{introspection.BreakerClosed, introspection.BreakerOpen},
		{introspection.BreakerOpen, introspection.BreakerHalfOpen},
		{introspection.BreakerHalfOpen, introspection.BreakerOpen},
		{introspection.BreakerOpen, introspection.BreakerHalfOpen},
		{introspection.BreakerHalfOpen, introspection.BreakerClosed},
	}
	if got := rec.transitions(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transitions %v\nwant %v", got, want)
	}
}

func TestBreakerCancelledProbeDoesNotClose(t *testing.T) {
	t.Parallel()
	const coolDown = 20 * time.Millisecond
	next := newSwitchable(errServer)
	cb := introspection.NewCircuitBreaker(quiet(coolDown))
	b := cb.Middleware()(next)
	trip(b)
	time.Sleep(coolDown + 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = b.Introspect(ctx, "tok") // the server fails, but the caller had gone
	wantState(t, cb, introspection.BreakerHalfOpen, "a cancelled probe")
	// The cancelled probe freed its place: the next call probes.
	next.set(nil)
	if err := call(b); err != nil || cb.State() != introspection.BreakerClosed {
		t.Fatalf("next probe: %v, state %v", err, cb.State())
	}
}

func TestBreakerWrappersShareState(t *testing.T) {
	t.Parallel()
	cb := introspection.NewCircuitBreaker(quiet(time.Hour))
	next := newSwitchable(errServer)
	for range introspection.BreakerConsecutiveFailures {
		_ = call(cb.Middleware()(next)) // as if rebuilt by a reload every time
	}
	if err := call(cb.Middleware()(next)); !errors.Is(err, introspection.ErrCircuitOpen) {
		t.Fatalf("a new wrapper forgot the state: %v", err)
	}
	// And a new CircuitBreaker is independent: tenants are isolated.
	if err := call(introspection.NewCircuitBreaker(quiet(0)).Middleware()(next)); err != errServer {
		t.Fatalf("a new breaker shared state: %v", err)
	}
}

func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	const coolDown = 5 * time.Millisecond
	var n atomic.Int32
	next := scripted(func(context.Context) (introspection.Result, error) {
		if n.Add(1)%3 == 0 {
			return active, nil
		}
		return introspection.Result{}, errServer
	})
	var states atomic.Int32
	b := introspection.NewCircuitBreaker(introspection.BreakerOptions{CoolDown: coolDown,
		Logger:        slog.New(slog.DiscardHandler),
		OnStateChange: func(string, introspection.BreakerState, introspection.BreakerState) { states.Add(1) }}).Middleware()(next)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				res, err := b.Introspect(context.Background(), "tok")
				if err == nil && res.Claims == nil || err != nil && !errors.Is(err, introspection.ErrIntrospection) {
					t.Errorf("answer %+v, %v", res, err)
					return
				}
				if errors.Is(err, introspection.ErrCircuitOpen) {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if states.Load() == 0 {
		t.Error("the breaker never changed state under a 2/3 failure rate")
	}
}

func TestBreakerThresholdsFromOptions(t *testing.T) {
	t.Parallel()
	t.Run("consecutive_failures", func(t *testing.T) {
		t.Parallel()
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{ConsecutiveFailures: 2, CoolDown: time.Hour, Logger: quiet(0).Logger})
		b := cb.Middleware()(newSwitchable(errServer))
		_ = call(b)
		wantState(t, cb, introspection.BreakerClosed, "1 failure of 2")
		_ = call(b)
		wantState(t, cb, introspection.BreakerOpen, "2 failures of 2")
	})
	t.Run("failure_ratio and min_calls", func(t *testing.T) {
		t.Parallel()
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{
			ConsecutiveFailures: 100, FailureRatio: 0.25, MinCalls: 8, CoolDown: time.Hour, Logger: quiet(0).Logger,
		})
		// One failure in four never makes a run, but is the ratio 0.25.
		b := cb.Middleware()(failEvery(4))
		for i := 1; i < 8; i++ {
			_ = call(b)
			wantState(t, cb, introspection.BreakerClosed, fmt.Sprintf("%d calls, before min_calls 8", i))
		}
		_ = call(b) // the 8th: 2 failures of 8
		wantState(t, cb, introspection.BreakerOpen, "2 failures in 8 calls, ratio 0.25")
	})
	t.Run("window", func(t *testing.T) {
		t.Parallel()
		// Failures older than the window no longer count for the ratio.
		const window = 100 * time.Millisecond
		next := newSwitchable(errServer)
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{
			ConsecutiveFailures: 100, FailureRatio: 0.5, MinCalls: 4, Window: window, CoolDown: time.Hour, Logger: quiet(0).Logger,
		})
		b := cb.Middleware()(next)
		_, _ = call(b), call(b) // 2 failures
		next.set(nil)
		time.Sleep(2 * window)
		_, _ = call(b), call(b) // 2 successes, in a new window
		next.set(errServer)
		_ = call(b) // 1 failure of 3 in the window: below min_calls
		wantState(t, cb, introspection.BreakerClosed, "1 failure of 3 in the window (older ones must not count)")
		_ = call(b) // 2 failures of 4
		wantState(t, cb, introspection.BreakerOpen, "2 failures of 4 within the window")
	})
	t.Run("cool_down", func(t *testing.T) {
		t.Parallel()
		const coolDown = 80 * time.Millisecond
		next := newSwitchable(errServer)
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{ConsecutiveFailures: 1, CoolDown: coolDown, Logger: quiet(0).Logger})
		b := cb.Middleware()(next)
		_ = call(b)
		opened := time.Now()
		if !errors.Is(call(b), introspection.ErrCircuitOpen) {
			t.Fatal("not open after 1 failure of 1")
		}
		next.set(nil)
		for errors.Is(call(b), introspection.ErrCircuitOpen) {
			time.Sleep(5 * time.Millisecond)
		}
		if d := time.Since(opened); d < coolDown || d > coolDown+time.Second {
			t.Errorf("probed %v after opening, cool-down %v", d, coolDown)
		}
		wantState(t, cb, introspection.BreakerClosed, "a successful probe")
	})
}

func TestBreakerDisabled(t *testing.T) {
	t.Parallel()
	cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{Disabled: true, ConsecutiveFailures: 1})
	next := newSwitchable(errServer)
	if b := cb.Middleware()(next); b != introspection.Introspector(next) {
		t.Errorf("a disabled breaker wrapped next in %T", b)
	}
	for range 3 * introspection.BreakerMinCalls {
		if err := call(cb.Middleware()(next)); err != errServer {
			t.Fatalf("disabled breaker: %v, want the server's error", err)
		}
	}
	if cb.Enabled() || cb.State() != introspection.BreakerClosed {
		t.Errorf("disabled breaker: enabled %v, state %v", cb.Enabled(), cb.State())
	}
	if !introspection.NewCircuitBreaker(introspection.BreakerOptions{}).Enabled() {
		t.Error("the zero BreakerOptions make a disabled breaker")
	}
}

func TestBreakerStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[introspection.BreakerState]string{
		introspection.BreakerClosed: "closed", introspection.BreakerHalfOpen: "half-open", introspection.BreakerOpen: "open", 7: "BreakerState(7)",
	} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
}
