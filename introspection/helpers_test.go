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
