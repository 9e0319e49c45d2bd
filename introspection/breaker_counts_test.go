package introspection_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// What counts as a failure for the breaker (issue 12, item 1). Answers
// about one token must never open it (anyone can send a token the server
// answers 400, and an open breaker is a 503 for every uncached user of the
// tenant); only signs that the server is unwell count: its errors, timeouts
// and a panic, never a caller's cancellation or a concurrency-limit wait.
// The breaker's states and settings are in breaker_test.go.

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
