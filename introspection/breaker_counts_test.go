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

// Issue 12, item 1: what a real client's errors count for the breaker.
// Answers about one token must never open it (anyone can send a token the
// server answers 400, and an open breaker is a 503 for every uncached user
// of the tenant); only signs that the server is unwell count.

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
			if got := cb.State(); got != introspection.BreakerClosed {
				t.Fatalf("state %v after %d answers about single tokens", got, n)
			}
			if got := as.Total(); got != int64(n) {
				t.Errorf("server saw %d calls, want %d", got, n)
			}
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
	if got := cb.State(); got != introspection.BreakerClosed {
		t.Fatalf("state %v: a 400 did not break the run of 503s", got)
	}
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
			if got := cb.State(); got != introspection.BreakerOpen {
				t.Fatalf("state %v after %d calls", got, introspection.BreakerConsecutiveFailures)
			}
			if err := call(b); !errors.Is(err, introspection.ErrCircuitOpen) {
				t.Fatalf("open breaker: %v", err)
			}
		})
	}
}

func TestBreakerThresholdsFromOptions(t *testing.T) {
	t.Parallel()
	t.Run("consecutive_failures", func(t *testing.T) {
		t.Parallel()
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{ConsecutiveFailures: 2, CoolDown: time.Hour, Logger: quiet(0).Logger})
		b := cb.Middleware()(newSwitchable(errServer))
		_ = call(b)
		if cb.State() != introspection.BreakerClosed {
			t.Fatal("open after 1 failure of 2")
		}
		_ = call(b)
		if cb.State() != introspection.BreakerOpen {
			t.Fatalf("state %v after 2 failures of 2", cb.State())
		}
	})
	t.Run("failure_ratio and min_calls", func(t *testing.T) {
		t.Parallel()
		// One failure in four never makes a run, but is the ratio 0.25.
		var n atomic.Int32
		next := scripted(func(context.Context) (introspection.Result, error) {
			if n.Add(1)%4 == 0 {
				return introspection.Result{}, errServer
			}
			return active, nil
		})
		cb := introspection.NewCircuitBreaker(introspection.BreakerOptions{
			ConsecutiveFailures: 100, FailureRatio: 0.25, MinCalls: 8, CoolDown: time.Hour, Logger: quiet(0).Logger,
		})
		b := cb.Middleware()(next)
		for i := 1; i < 8; i++ {
			_ = call(b)
			if cb.State() != introspection.BreakerClosed {
				t.Fatalf("open after %d calls, before min_calls 8", i)
			}
		}
		_ = call(b) // the 8th: 2 failures of 8
		if cb.State() != introspection.BreakerOpen {
			t.Fatalf("state %v after 2 failures in 8 calls, ratio 0.25", cb.State())
		}
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
		if cb.State() != introspection.BreakerClosed {
			t.Fatalf("state %v: failures from before the window counted", cb.State())
		}
		_ = call(b) // 2 failures of 4
		if cb.State() != introspection.BreakerOpen {
			t.Fatalf("state %v after 2 failures of 4 within the window", cb.State())
		}
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
		if cb.State() != introspection.BreakerClosed {
			t.Errorf("state %v after a successful probe", cb.State())
		}
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
