package introspection_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// seen is what a fake authorization server received in one request.
type seen struct {
	Method string
	Path   string
	Host   string
	Header http.Header
	Body   string
	Form   url.Values
}

// fakeAS is an httptest server on 127.0.0.1 that records every request
// (after reading its body) and counts accepted connections.
type fakeAS struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []seen
	newConns atomic.Int32
	closed   atomic.Int32
}

type handler func(w http.ResponseWriter, r *http.Request, s seen)

func newFakeAS(t *testing.T, h handler) *fakeAS { return startFakeAS(t, h, false) }

func newFakeASTLS(t *testing.T, h handler) *fakeAS { return startFakeAS(t, h, true) }

func startFakeAS(t *testing.T, h handler, useTLS bool) *fakeAS {
	t.Helper()
	f := &fakeAS{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake server: reading body: %v", err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("fake server: body is not a form: %v", err)
		}
		s := seen{Method: r.Method, Path: r.URL.Path, Host: r.Host, Header: r.Header.Clone(), Body: string(body), Form: form}
		f.mu.Lock()
		f.reqs = append(f.reqs, s)
		f.mu.Unlock()
		h(w, r, s)
	}))
	f.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			f.newConns.Add(1)
		case http.StateClosed, http.StateHijacked:
			f.closed.Add(1)
		}
	}
	// Failed TLS handshakes are expected in some tests; keep them quiet.
	f.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAS) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fakeAS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// caFile writes the TLS server's certificate as a PEM file.
func (f *fakeAS) caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// answer writes a response with the given status and body.
func answer(status int, body string) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ seen) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
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

// countingTransport counts RoundTrip calls (attempts) on its way to base.
type countingTransport struct {
	base  http.RoundTripper
	calls atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.base.RoundTrip(r)
}

// selfSigned makes a certificate for 127.0.0.1 that differs from the one
// every httptest TLS server shares, and returns it with its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "tokengate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
