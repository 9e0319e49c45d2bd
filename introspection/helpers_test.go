package introspection_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

var (
	errServer = error(&introspection.StatusError{Tenant: "acme", StatusCode: 500})
	active    = introspection.Result{Claims: &introspection.Claims{Active: true}, Cache: introspection.CacheNone}
	inactive  = introspection.Result{Claims: &introspection.Claims{Active: false}, Cache: introspection.CacheNone}
)

// scripted answers every call with what answer returns.
func scripted(answer func(ctx context.Context) (introspection.Result, error)) *introspectiontest.Introspector {
	f := introspectiontest.NewIntrospector()
	f.AnswerFunc(func(ctx context.Context, _ string) (introspection.Result, error) { return answer(ctx) })
	return f
}

// failEvery answers errServer to every nth call and active to the others.
func failEvery(n int32) *introspectiontest.Introspector {
	var calls atomic.Int32
	return scripted(func(context.Context) (introspection.Result, error) {
		if calls.Add(1)%n == 0 {
			return introspection.Result{}, errServer
		}
		return active, nil
	})
}

// newAS is a fake authorization server that answers every request with h
// (the request's form already parsed).
func newAS(t *testing.T, h http.HandlerFunc) *introspectiontest.Server {
	as := introspectiontest.New(t)
	as.HandleUnknown(h)
	return as
}

// newASTLS is newAS over HTTPS.
func newASTLS(t *testing.T, h http.HandlerFunc) *introspectiontest.Server {
	as := introspectiontest.NewTLS(t)
	as.HandleUnknown(h)
	return as
}

// hangUp closes the connection without answering. With reset, the close is
// an RST (SO_LINGER 0) instead of a FIN.
func hangUp(t *testing.T, w http.ResponseWriter, reset bool) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if reset {
		_ = conn.(*net.TCPConn).SetLinger(0)
	}
	_ = conn.Close()
}

// hang blocks until the client goes away (or the test has long failed).
func hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

const (
	testToken  = "tok-7f3a9c21e4b84d0f9a6b5c3d2e1f0a9b"
	testSecret = "s3cr3t-Value-42"
)

// options is a valid client_secret_basic configuration for url.
func options(url string) introspection.Options {
	return introspection.Options{
		Tenant:        "acme",
		URL:           url,
		ClientID:      "rs-acme",
		ClientSecret:  testSecret,
		TokenTypeHint: "access_token",
		Timeout:       3 * time.Second,
	}
}

func newClient(t *testing.T, opts introspection.Options) *introspection.Client {
	t.Helper()
	c, err := introspection.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// mustFail checks the invariants of every failed call and returns err.
func mustFail(t *testing.T, res introspection.Result, err error) error {
	t.Helper()
	if err == nil {
		t.Fatalf("Introspect succeeded with %+v, want an error", res.Claims)
	}
	if !errors.Is(err, introspection.ErrIntrospection) {
		t.Errorf("error %q does not wrap ErrIntrospection", err)
	}
	if res.Claims != nil {
		t.Errorf("error came with claims %+v", res.Claims)
	}
	return err
}

func mustStatus(t *testing.T, err error, code int) *introspection.StatusError {
	t.Helper()
	var se *introspection.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %q is not a *StatusError", err)
	}
	if se.StatusCode != code {
		t.Errorf("StatusCode = %d, want %d", se.StatusCode, code)
	}
	if se.Tenant != "acme" {
		t.Errorf("Tenant = %q, want acme", se.Tenant)
	}
	return se
}

func introspect(t *testing.T, c introspection.Introspector, token string) (introspection.Result, error) {
	t.Helper()
	return c.Introspect(context.Background(), token)
}

// mustRefuse introspects testToken with c, for a call that must fail.
func mustRefuse(t *testing.T, c introspection.Introspector) error {
	t.Helper()
	res, err := introspect(t, c, testToken)
	return mustFail(t, res, err)
}

// introspectAt introspects testToken with a client of options at a new
// server (newAS) answering every request with h.
func introspectAt(t *testing.T, h http.HandlerFunc) (*introspectiontest.Server, introspection.Result, error) {
	t.Helper()
	as := newAS(t, h)
	res, err := introspect(t, newClient(t, options(as.URL)), testToken)
	return as, res, err
}

// failAt is introspectAt for a call that must fail (see mustFail).
func failAt(t *testing.T, h http.HandlerFunc) (*introspectiontest.Server, error) {
	t.Helper()
	as, res, err := introspectAt(t, h)
	return as, mustFail(t, res, err)
}

// timedFailure introspects testToken with ctx and a client whose timeout
// is timeout at a new server answering every request with h, for a call
// that must fail: its error and how long it took.
func timedFailure(t *testing.T, ctx context.Context, h http.HandlerFunc, timeout time.Duration) (*introspectiontest.Server, time.Duration, error) {
	t.Helper()
	as := newAS(t, h)
	opts := options(as.URL)
	opts.Timeout = timeout
	c := newClient(t, opts)
	start := time.Now()
	res, err := c.Introspect(ctx, testToken)
	elapsed := time.Since(start)
	return as, elapsed, mustFail(t, res, err)
}

// wantTotal fails t unless as received n requests in all; why is added to
// the message.
func wantTotal(t *testing.T, as *introspectiontest.Server, n int64, why string) {
	t.Helper()
	if got := as.Total(); got != n {
		t.Errorf("%d attempts, want %d%s", got, n, why)
	}
}

// mustIntrospect is introspect for a call that must succeed.
func mustIntrospect(t *testing.T, c introspection.Introspector, token string) introspection.Result {
	t.Helper()
	res, err := introspect(t, c, token)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// countingTransport counts RoundTrip calls (attempts) on its way to base.
type countingTransport struct {
	base  http.RoundTripper
	calls atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.base.RoundTrip(r)
}
