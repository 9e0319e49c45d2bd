package introspection_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
// settings; then, below, what counts as a failure.

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

// What counts as a failure for the breaker (issue 12, item 1). Answers
// about one token must never open it (anyone can send a token the server
// answers 400, and an open breaker is a 503 for every uncached user of the
// tenant); only signs that the server is unwell count: its errors, timeouts
// and a panic, never a caller's cancellation or a concurrency-limit wait.

// breakerOver is a quiet breaker with a long cool-down in front of a real
// client of url with the given timeout.
func breakerOver(t *testing.T, url string, timeout time.Duration, opts introspection.BreakerOptions) (*introspection.CircuitBreaker, introspection.Introspector) {
	t.Helper()
	o := options(url)
	o.Timeout = timeout
	if opts.CoolDown == 0 {
		opts.CoolDown = time.Hour
	}
	opts.Tenant = "acme"
	opts.Logger = quiet(0).Logger
	cb := introspection.NewCircuitBreaker(opts)
	return cb, cb.Middleware()(newClient(t, o))
}

func TestBreakerIgnoresAnswersAboutOneToken(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]http.HandlerFunc{
		"400 invalid_request": introspectiontest.Reply(http.StatusBadRequest, `{"error":"invalid_request"}`),
		"400 without body":    introspectiontest.Reply(http.StatusBadRequest, ``),
		"401":                 introspectiontest.Reply(http.StatusUnauthorized, `{"error":"invalid_client"}`),
		"403":                 introspectiontest.Reply(http.StatusForbidden, `<html>denied</html>`),
		"404":                 introspectiontest.Reply(http.StatusNotFound, `not found`),
		"413":                 introspectiontest.Reply(http.StatusRequestEntityTooLarge, ``),
		"redirect": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
		},
		"not JSON":          introspectiontest.Reply(http.StatusOK, `<html>{"active":tru`),
		"JSON array":        introspectiontest.Reply(http.StatusOK, `[{"active":true}]`),
		"no active":         introspectiontest.Reply(http.StatusOK, `{"sub":"x"}`),
		"active not a bool": introspectiontest.Reply(http.StatusOK, `{"active":"true"}`),
		"aud of wrong type": introspectiontest.Reply(http.StatusOK, `{"active":true,"aud":[1]}`),
		"larger than 1 MiB": introspectiontest.Reply(http.StatusOK, `{"active":true,"x":"`+strings.Repeat("a", introspection.MaxResponseBytes)+`"}`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, h)
			// A generous timeout: a timeout would count (1 MiB under -race is slow).
			cb, b := breakerOver(t, as.URL, 10*time.Second, introspection.BreakerOptions{})
			// Enough for the consecutive count and for the ratio.
			n := 2 * max(introspection.BreakerConsecutiveFailures, introspection.BreakerMinCalls)
			for i := range n {
				_, err := b.Introspect(context.Background(), fmt.Sprint("tok", i))
				if err == nil || !errors.Is(err, introspection.ErrIntrospection) {
					t.Fatalf("call %d: %v, want an introspection error (503)", i, err)
				}
				if errors.Is(err, introspection.ErrCircuitOpen) {
					t.Fatalf("call %d: the breaker opened on answers about single tokens: %v", i, err)
				}
			}
			wantState(t, cb, introspection.BreakerClosed, "answers about single tokens")
			wantTotal(t, as, int64(n), "")
		})
	}
}

// TestBreakerAnswerResetsTheRun: a server that answers, even badly, is
// alive; its answer counts as a success and breaks a run of failures.
func TestBreakerAnswerResetsTheRun(t *testing.T) {
	t.Parallel()
	status := make(chan int, 1)
	status <- http.StatusServiceUnavailable
	as := newAS(t, func(w http.ResponseWriter, _ *http.Request) {
		s := <-status
		status <- s
		w.WriteHeader(s)
	})
	set := func(s int) { <-status; status <- s }
	cb, b := breakerOver(t, as.URL, 10*time.Second, introspection.BreakerOptions{})
	for range 3 {
		set(http.StatusServiceUnavailable)
		for range introspection.BreakerConsecutiveFailures - 1 {
			_ = call(b)
		}
		set(http.StatusBadRequest)
		_ = call(b)
	}
	wantState(t, cb, introspection.BreakerClosed, "runs of 503s broken by a 400")
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
	wantState(t, cb, introspection.BreakerClosed, "runs of failures broken by inactive answers")
}

func TestBreakerOpensOnServerTrouble(t *testing.T) {
	t.Parallel()
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	for name, h := range map[string]http.HandlerFunc{
		"500":     introspectiontest.Reply(http.StatusInternalServerError, `{"error":"server_error"}`),
		"502":     introspectiontest.Reply(http.StatusBadGateway, `<html>bad gateway</html>`),
		"503":     introspectiontest.Reply(http.StatusServiceUnavailable, ``),
		"504":     introspectiontest.Reply(http.StatusGatewayTimeout, ``),
		"429":     introspectiontest.Reply(http.StatusTooManyRequests, `{"error":"slow_down"}`),
		"timeout": func(_ http.ResponseWriter, r *http.Request) { hang(r) },
		"reset":   func(w http.ResponseWriter, _ *http.Request) { hangUp(t, w, true) },
		"closed":  func(w http.ResponseWriter, _ *http.Request) { hangUp(t, w, false) },
		"truncated body": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"active":`)
			w.(http.Flusher).Flush()
			hangUp(t, w, false)
		},
		"refused": nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := refused()
			if h != nil {
				url = newAS(t, h).URL
			}
			cb, b := breakerOver(t, url, 300*time.Millisecond, introspection.BreakerOptions{})
			for i := range introspection.BreakerConsecutiveFailures {
				if err := call(b); err == nil || errors.Is(err, introspection.ErrCircuitOpen) {
					t.Fatalf("call %d: %v, want the server's error", i, err)
				}
			}
			wantState(t, cb, introspection.BreakerOpen, "a run of failures")
			if err := call(b); !errors.Is(err, introspection.ErrCircuitOpen) {
				t.Fatalf("open breaker: %v", err)
			}
		})
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
	wantState(t, cb, introspection.BreakerClosed, "cancellations, concurrency-limit waits and foreign errors (none is a failure)")
	// A caller's deadline, by contrast, is the server being slow.
	slow := scripted(func(context.Context) (introspection.Result, error) {
		return introspection.Result{}, fmt.Errorf("%w: no answer within 1s: %w", introspection.ErrIntrospection, context.DeadlineExceeded)
	})
	trip(cb.Middleware()(slow))
	wantState(t, cb, introspection.BreakerOpen, "a run of timeouts")
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
	trip(b)
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
	wantState(t, cb, introspection.BreakerOpen, "a panicking probe")
	panicking.Store(false)
	next.set(nil)
	time.Sleep(coolDown + 10*time.Millisecond)
	if err := call(b); err != nil || cb.State() != introspection.BreakerClosed {
		t.Fatalf("after the panic the breaker is stuck: %v, state %v", err, cb.State())
	}
}
