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

// scripted answers every call with what answer returns.
func scripted(answer func(ctx context.Context) (introspection.Result, error)) *introspectiontest.Introspector {
	f := introspectiontest.NewIntrospector()
	f.AnswerFunc(func(ctx context.Context, _ string) (introspection.Result, error) { return answer(ctx) })
	return f
}

var (
	errServer = error(&introspection.StatusError{Tenant: "acme", StatusCode: 500})
	active    = introspection.Result{Claims: &introspection.Claims{Active: true}, Cache: introspection.CacheNone}
	inactive  = introspection.Result{Claims: &introspection.Claims{Active: false}, Cache: introspection.CacheNone}
)

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
	if got := cb.State(); got != introspection.BreakerOpen {
		t.Fatalf("state after %d failures = %v", introspection.BreakerConsecutiveFailures, got)
	}
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

func TestBreakerSuccessesAndInactiveTokensResetTheRun(t *testing.T) {
	t.Parallel()
	next := newSwitchable(errServer)
	cb := introspection.NewCircuitBreaker(quiet(time.Hour))
	b := cb.Middleware()(next)
	for round := range 3 {
		next.set(errServer)
		for range introspection.BreakerConsecutiveFailures - 1 {
			_ = call(b)
		}
		next.set(nil)
		next.mu.Lock()
		next.res = inactive // an answer, even if a negative one
		next.mu.Unlock()
		if err := call(b); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if got := cb.State(); got != introspection.BreakerClosed {
		t.Fatalf("state %v after runs of %d failures broken by inactive answers", got, introspection.BreakerConsecutiveFailures-1)
	}
}

func TestBreakerIgnoresCancellationAndQueueing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	canceled := scripted(func(ctx context.Context) (introspection.Result, error) {
		return introspection.Result{}, fmt.Errorf("%w: canceled by the caller: %w", introspection.ErrIntrospection, ctx.Err())
	})
	queued := scripted(func(context.Context) (introspection.Result, error) {
		return introspection.Result{}, fmt.Errorf("%w: %w: gave up: %w", introspection.ErrIntrospection, introspection.ErrConcurrencyLimit, context.DeadlineExceeded)
	})
	foreign := scripted(func(context.Context) (introspection.Result, error) {
		return introspection.Result{}, errors.New("not ours")
	})
	cb := introspection.NewCircuitBreaker(quiet(time.Hour))
	for range 3 * introspection.BreakerMinCalls {
		_, _ = cb.Middleware()(canceled).Introspect(ctx, "tok")
		_ = call(cb.Middleware()(queued))
		_ = call(cb.Middleware()(foreign))
	}
	if got := cb.State(); got != introspection.BreakerClosed {
		t.Fatalf("state %v: cancellations, concurrency-limit waits or foreign errors were counted as failures", got)
	}
	// A caller's deadline, by contrast, is the server being slow.
	slow := scripted(func(context.Context) (introspection.Result, error) {
		return introspection.Result{}, fmt.Errorf("%w: no answer within 1s: %w", introspection.ErrIntrospection, context.DeadlineExceeded)
	})
	for range introspection.BreakerConsecutiveFailures {
		_ = call(cb.Middleware()(slow))
	}
	if got := cb.State(); got != introspection.BreakerOpen {
		t.Fatalf("state %v after %d timeouts", got, introspection.BreakerConsecutiveFailures)
	}
}

func TestBreakerOpensOnFailureRatio(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	flapping := scripted(func(context.Context) (introspection.Result, error) {
		if n.Add(1)%2 == 0 {
			return introspection.Result{}, errServer
		}
		return active, nil
	})
	cb := introspection.NewCircuitBreaker(quiet(time.Hour))
	b := cb.Middleware()(flapping)
	for i := 1; i < introspection.BreakerMinCalls; i++ {
		_ = call(b)
		if got := cb.State(); got != introspection.BreakerClosed {
			t.Fatalf("open after %d calls, before the ratio has %d", i, introspection.BreakerMinCalls)
		}
	}
	_ = call(b) // the 20th: 10 failures of 20
	if got := cb.State(); got != introspection.BreakerOpen {
		t.Fatalf("state %v after %d alternating calls", got, introspection.BreakerMinCalls)
	}
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()
	const coolDown = 50 * time.Millisecond
	rec := newRecorder(coolDown)
	next := newSwitchable(errServer)
	cb := introspection.NewCircuitBreaker(rec.opts)
	b := cb.Middleware()(next)
	for range introspection.BreakerConsecutiveFailures {
		_ = call(b)
	}
	time.Sleep(coolDown + 10*time.Millisecond)

	// A failing probe opens it again for another cool-down.
	before := next.Total()
	if err := call(b); err != errServer {
		t.Fatalf("probe: %v, want the server's error", err)
	}
	if got := cb.State(); got != introspection.BreakerOpen {
		t.Fatalf("state %v after a failed probe", got)
	}
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
	if got := cb.State(); got != introspection.BreakerClosed {
		t.Fatalf("state %v after a successful probe", got)
	}
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
	for range introspection.BreakerConsecutiveFailures {
		_ = call(b)
	}
	time.Sleep(coolDown + 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = b.Introspect(ctx, "tok") // the server fails, but the caller had gone
	if got := cb.State(); got != introspection.BreakerHalfOpen {
		t.Fatalf("state %v after a cancelled probe, want still half-open", got)
	}
	// The cancelled probe freed its place: the next call probes.
	next.set(nil)
	if err := call(b); err != nil || cb.State() != introspection.BreakerClosed {
		t.Fatalf("next probe: %v, state %v", err, cb.State())
	}
}

func TestBreakerPanicCountsAsFailure(t *testing.T) {
	t.Parallel()
	const coolDown = 20 * time.Millisecond
	var panicking atomic.Bool
	next := newSwitchable(errServer)
	next.AnswerFunc(func(ctx context.Context, token string) (introspection.Result, error) {
		if panicking.Load() {
			panic("boom")
		}
		return next.answer(ctx, token)
	})
	cb := introspection.NewCircuitBreaker(quiet(coolDown))
	b := cb.Middleware()(next)
	for range introspection.BreakerConsecutiveFailures {
		_ = call(b)
	}
	time.Sleep(coolDown + 10*time.Millisecond)
	panicking.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		_ = call(b)
	}()
	if got := cb.State(); got != introspection.BreakerOpen {
		t.Fatalf("state %v after a panicking probe, want open", got)
	}
	panicking.Store(false)
	next.set(nil)
	time.Sleep(coolDown + 10*time.Millisecond)
	if err := call(b); err != nil || cb.State() != introspection.BreakerClosed {
		t.Fatalf("after the panic the breaker is stuck: %v, state %v", err, cb.State())
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
