package introspection_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// margin absorbs scheduling noise (the race detector slows things down).
const margin = 700 * time.Millisecond

// wantAbout fails t unless a call that timed out after timeout took that
// long, give or take margin.
func wantAbout(t *testing.T, elapsed, timeout time.Duration) {
	t.Helper()
	if elapsed < timeout || elapsed > timeout+margin {
		t.Errorf("returned after %v, want about %v", elapsed, timeout)
	}
}

// hanging answers nothing until the client goes away.
func hanging(_ http.ResponseWriter, r *http.Request) { hang(r) }

func TestTimeout(t *testing.T) {
	t.Parallel()
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		as, elapsed, err := timedFailure(t, context.Background(), hanging, 300*time.Millisecond)
		wantAbout(t, elapsed, 300*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Errorf("error = %q", err)
		}
		wantTotal(t, as, 1, " (timeouts are not retried)")
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		_, elapsed, err := timedFailure(t, context.Background(), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"active":`)
			w.(http.Flusher).Flush()
			hang(r)
		}, 300*time.Millisecond)
		wantAbout(t, elapsed, 300*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("default 2s", func(t *testing.T) {
		t.Parallel()
		_, elapsed, _ := timedFailure(t, context.Background(), hanging, 0)
		wantAbout(t, elapsed, introspection.DefaultTimeout)
	})
	t.Run("caller deadline first", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, elapsed, err := timedFailure(t, ctx, hanging, 5*time.Second)
		if elapsed > 200*time.Millisecond+margin {
			t.Errorf("returned after %v, want about 200ms", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller's deadline") {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, elapsed, err := timedFailure(t, ctx, hanging, 5*time.Second)
		if elapsed > 100*time.Millisecond+margin {
			t.Errorf("returned after %v, want about 100ms", elapsed)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %q", err)
		}
	})
}

func TestRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		failFirst int // how many attempts hang up before one answers
		reset     bool
		wantOK    bool
		wantCalls int
	}{
		{"closed once then answers", 1, false, true, 2},
		{"reset once then answers", 1, true, true, 2},
		{"closed every time", 100, false, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			as, res, err := introspectAt(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n <= tc.failFirst {
					hangUp(t, w, tc.reset)
					return
				}
				introspectiontest.Reply(200, activeBody)(w, r)
			})
			if tc.wantOK {
				if err != nil || !res.Claims.Active {
					t.Fatalf("err = %v", err)
				}
			} else {
				err = mustFail(t, res, err)
				if !strings.Contains(err.Error(), "connection closed before a complete response") {
					t.Errorf("error = %q", err)
				}
			}
			wantTotal(t, as, int64(tc.wantCalls), "")
			// Both attempts carry the same request.
			for _, r := range as.Requests() {
				if r.Form.Get("token") != testToken {
					t.Errorf("attempt without the token: %v", r.Form)
				}
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	opts := options("http://" + addr + "/introspect")
	base, err := introspection.NewTransport(opts)
	if err != nil {
		t.Fatal(err)
	}
	rt := &countingTransport{base: base}
	opts.Transport = rt
	err = mustRefuse(t, newClient(t, opts))
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %q", err)
	}
	if n := rt.calls.Load(); n != 2 {
		t.Errorf("%d attempts, want 2 (one retry)", n)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	as := newASTLS(t, introspectiontest.Reply(200, activeBody))

	t.Run("ca_file", func(t *testing.T) {
		opts := options(as.URL)
		opts.CAFile = as.CAFile(t)
		mustIntrospect(t, newClient(t, opts), testToken)
	})
	t.Run("unknown CA", func(t *testing.T) {
		before := as.ConnsOpened()
		err := mustRefuse(t, newClient(t, options(as.URL)))
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error = %q", err)
		}
		if n := as.ConnsOpened() - before; n != 1 {
			t.Errorf("%d connections, want 1 (certificate errors are not retried)", n)
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		opts := options(as.URL)
		opts.InsecureSkipVerify = true
		mustIntrospect(t, newClient(t, opts), testToken)
	})
	t.Run("TLS to a plain HTTP server", func(t *testing.T) {
		plain := newAS(t, introspectiontest.Reply(200, activeBody))
		err := mustRefuse(t, newClient(t, options(strings.Replace(plain.URL, "http:", "https:", 1))))
		if !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("plain HTTP to a TLS server", func(t *testing.T) {
		mustRefuse(t, newClient(t, options(strings.Replace(as.URL, "https:", "http:", 1))))
	})
}

// ca_file adds to the system roots rather than replacing them. The system
// roots are loaded once per process, so the check runs in a child process
// (this test binary again) whose SSL_CERT_FILE is set before any TLS use.
func TestCAFileAddsToSystemRoots(t *testing.T) {
	const childEnv = "TOKENGATE_TEST_SYSTEM_ROOTS_CHILD"
	if os.Getenv(childEnv) == "" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCAFileAddsToSystemRoots$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestCAFileAddsToSystemRoots") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}

	// Server a's certificate is a "system" root; server b's is in ca_file.
	a := newASTLS(t, introspectiontest.Reply(200, activeBody))
	t.Setenv("SSL_CERT_FILE", a.CAFile(t))
	t.Setenv("SSL_CERT_DIR", t.TempDir())
	ca := testsupport.NewCA(t, "tokengate test CA")
	b := introspectiontest.NewTLS(t, ca.KeyPair(t, 2, "b", true))
	b.HandleUnknown(introspectiontest.Reply(200, activeBody))
	caFile := filepath.Join(t.TempDir(), "b.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		url    string
		caFile string
		ok     bool
	}{
		{a.URL, "", true},     // system roots work
		{b.URL, "", false},    // b is not trusted by default
		{b.URL, caFile, true}, // ca_file trusts b
		{a.URL, caFile, true}, // and keeps trusting the system roots
	} {
		opts := options(tc.url)
		opts.CAFile = tc.caFile
		_, err := introspect(t, newClient(t, opts), testToken)
		if (err == nil) != tc.ok {
			t.Errorf("url %s, ca_file %q: err = %v, want ok=%t", tc.url, tc.caFile, err, tc.ok)
		}
	}
}

// One client serves many goroutines; every caller gets its own answer.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		introspectiontest.Reply(200, fmt.Sprintf(`{"active":true,"sub":%q}`, r.PostForm.Get("token")))(w, r)
	})
	c := newClient(t, options(as.URL))
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 10 {
				tok := fmt.Sprintf("tok-%d-%d", g, i)
				res, err := c.Introspect(context.Background(), tok)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Claims.Subject != tok {
					t.Errorf("asked about %s, got sub %s", tok, res.Claims.Subject)
				}
			}
		})
	}
	wg.Wait()
	wantTotal(t, as, 320, "")
	// The pool keeps enough idle connections for 32 callers; net/http's
	// default of 2 per host would dial for most of the 320 calls.
	if n := as.ConnsOpened(); n > 64 {
		t.Errorf("%d connections for 32 concurrent callers, want the pool to reuse them", n)
	}
}

// Sequential calls reuse one pooled connection, also after error statuses
// (their bodies are drained), and Close closes it.
func TestConnectionReuseAndClose(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 401} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(status, `{"active":true,"error":"invalid_client","pad":"`+strings.Repeat("x", 4000)+`"}`))
			c := newClient(t, options(as.URL))
			for range 20 {
				_, _ = introspect(t, c, testToken)
			}
			if n := as.ConnsOpened(); n != 1 {
				t.Errorf("%d connections for 20 sequential calls, want 1", n)
			}
			c.Close()
			testsupport.WaitFor(t, 2*time.Second, "the connection to close after Close", func() bool { return as.ConnsClosed() >= 1 })
			if n := as.ConnsClosed(); n != 1 {
				t.Errorf("%d connections closed after Close, want 1", n)
			}
		})
	}
}
