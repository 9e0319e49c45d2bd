package introspection_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

const activeBody = `{"active":true,"sub":"user-1","scope":"a b"}`

func TestRequestShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hint     string
		token    string
		wantForm url.Values
	}{
		{"with hint", "access_token", "abc", url.Values{"token": {"abc"}, "token_type_hint": {"access_token"}}},
		{"without hint", "", "abc", url.Values{"token": {"abc"}}},
		{"token needing escapes", "refresh_token", "a+b/c=&d", url.Values{"token": {"a+b/c=&d"}, "token_type_hint": {"refresh_token"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, activeBody))
			opts := options(as.URL + "/introspect?realm=x")
			opts.TokenTypeHint = tc.hint
			mustIntrospect(t, newClient(t, opts), tc.token)
			r := as.Requests()[0]
			if r.Method != http.MethodPost || r.URL.Path != "/introspect" {
				t.Errorf("request = %s %s", r.Method, r.URL.Path)
			}
			if !reflect.DeepEqual(r.Form, tc.wantForm) {
				t.Errorf("form = %v, want %v", r.Form, tc.wantForm)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/x-www-form-urlencoded",
				"Accept":       "application/json",
				"User-Agent":   "tokengate",
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestExtraHeadersAndUserAgent(t *testing.T) {
	t.Parallel()
	as := newAS(t, introspectiontest.Reply(200, activeBody))
	opts := options(as.URL)
	opts.UserAgent = "tokengate/1.2.3"
	opts.Headers = map[string]string{"x-api-key": "k-123", "X-Tenant": "acme", "Host": "idp.acme.example"}
	mustIntrospect(t, newClient(t, opts), testToken)
	r := as.Requests()[0]
	if r.Header.Get("X-Api-Key") != "k-123" || r.Header.Get("X-Tenant") != "acme" {
		t.Errorf("extra headers missing: %v", r.Header)
	}
	if r.Header.Get("User-Agent") != "tokengate/1.2.3" {
		t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
	}
	if r.Host != "idp.acme.example" {
		t.Errorf("Host = %q", r.Host)
	}
}

func TestAuthNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		clientID string
		headers  map[string]string
		wantForm url.Values
		wantAuth string
	}{
		{"no client id", "", nil, url.Values{"token": {"t"}}, ""},
		{"client id", "rs-acme", nil, url.Values{"token": {"t"}, "client_id": {"rs-acme"}}, ""},
		{"static authorization header", "", map[string]string{"Authorization": "ApiKey k"}, url.Values{"token": {"t"}}, "ApiKey k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, activeBody))
			opts := introspection.Options{URL: as.URL, AuthMethod: introspection.AuthNone, ClientID: tc.clientID, ClientSecret: "unused", Headers: tc.headers}
			mustIntrospect(t, newClient(t, opts), "t")
			r := as.Requests()[0]
			if !reflect.DeepEqual(r.Form, tc.wantForm) {
				t.Errorf("form = %v, want %v", r.Form, tc.wantForm)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	target := newAS(t, introspectiontest.Reply(200, activeBody))
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/elsewhere", code)
			})
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
			err = mustFail(t, res, err)
			mustStatus(t, err, code)
			if !strings.Contains(err.Error(), "redirects are not followed") {
				t.Errorf("error = %q", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := target.Total(); n != 0 {
			t.Errorf("redirect target hit %d times", n)
		}
	})
}

func TestNon200(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		body string
	}{
		{201, activeBody}, // a valid answer under the wrong status is still not trusted
		{202, activeBody},
		{204, ""},
		{400, `{"error":"invalid_request"}`},
		{401, ""},
		{403, `{"error":"access_denied"}`},
		{404, "not found"},
		{429, `{"error":"slow_down"}`},
		{500, "<html><body><h1>Internal Server Error</h1><p>" + testToken + "</p></body></html>"},
		{502, "<html>Bad Gateway</html>"},
		{503, `{"error":"temporarily_unavailable"}`},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(tc.code, tc.body))
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
			err = mustFail(t, res, err)
			mustStatus(t, err, tc.code)
			if strings.Contains(err.Error(), "html") || strings.Contains(err.Error(), "Error<") {
				t.Errorf("error echoes the body: %q", err)
			}
			if n := as.Total(); n != 1 {
				t.Errorf("%d attempts for status %d, want 1 (HTTP answers are never retried)", n, tc.code)
			}
		})
	}
}

func TestOAuthErrorField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"error":"invalid_client","error_description":"bad secret"}`, "invalid_client"},
		{`{"error":"urn.vendor-code_1"}`, "urn.vendor-code_1"},
		{`{'error': 'Invalid input'}`, ""},
		{`{"error":"Invalid input"}`, ""},
		{`{"error":"` + strings.Repeat("a", 65) + `"}`, ""},
		{`{"error":"` + strings.Repeat("a", 64) + `"}`, strings.Repeat("a", 64)},
		{`{"error":"<script>"}`, ""},
		{`{"error":"a\nb"}`, ""},
		{`{"error":5}`, ""},
		{`{"error":"` + testToken + `"}`, ""},       // a server echoing the token
		{`{"error":"` + testToken[4:20] + `"}`, ""}, // or a long piece of it
		{`{"error":"` + testSecret + `"}`, ""},      // or our secret
		{`{"error":"bad_` + testToken + `"}`, ""},
		{`["invalid_client"]`, ""},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(401, tc.body))
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
			err = mustFail(t, res, err)
			se := mustStatus(t, err, 401)
			if se.OAuthError != tc.want {
				t.Errorf("OAuthError = %q, want %q", se.OAuthError, tc.want)
			}
			if tc.want == "" && strings.Contains(err.Error(), "(error") {
				t.Errorf("error quotes an unsafe code: %q", err)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	padded := func(total int) string {
		const head, tail = `{"active":true,"pad":"`, `"}`
		return head + strings.Repeat("x", total-len(head)-len(tail)) + tail
	}
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"exactly 1 MiB", padded(introspection.MaxResponseBytes), true},
		{"1 MiB + 1", padded(introspection.MaxResponseBytes + 1), false},
		{"8 MiB", padded(8 << 20), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, tc.body))
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
			if tc.ok {
				if err != nil || !res.Claims.Active {
					t.Fatalf("err = %v", err)
				}
				return
			}
			err = mustFail(t, res, err)
			if !strings.Contains(err.Error(), "larger than 1 MiB") {
				t.Errorf("error = %q", err)
			}
		})
	}
}

// A server that never stops sending is cut off at the limit, not at the
// timeout.
func TestEndlessBody(t *testing.T) {
	t.Parallel()
	as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"active":true,"pad":"`)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	opts := options(as.URL)
	opts.Timeout = 5 * time.Second
	start := time.Now()
	res, err := introspect(t, newClient(t, opts), testToken)
	err = mustFail(t, res, err)
	if !strings.Contains(err.Error(), "larger than 1 MiB") || time.Since(start) > 2*time.Second {
		t.Errorf("after %v: error = %q, want the size limit to end the call", time.Since(start), err)
	}
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", "empty body"},
		{"text", "OK", "not a JSON object"},
		{"html", "<html>hi</html>", "not a JSON object"},
		{"single quotes", "{'active':true}", "not a JSON object"},
		{"truncated", `{"active":tr`, "not a JSON object"},
		{"array", `[{"active":true}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"trailing data", `{"active":true} {"active":false}`, "data after"},
		{"no active", `{"sub":"x"}`, `"active"`},
		{"active string", `{"active":"true"}`, `"active"`},
		{"exp string", `{"active":true,"exp":"1700000000"}`, `"exp"`},
		{"nbf bool", `{"active":true,"nbf":true}`, `"nbf"`},
		{"aud numbers", `{"active":true,"aud":[1]}`, `"aud"`},
		{"aud object", `{"active":true,"aud":{"a":1}}`, `"aud"`},
		{"scope array", `{"active":true,"scope":["a","b"]}`, `"scope"`},
		{"scp string", `{"active":true,"scp":"a b"}`, `"scp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, tc.body))
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
			err = mustFail(t, res, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "introspection failed: tenant acme: ") || strings.Count(err.Error(), "introspection failed") != 1 {
				t.Errorf("error = %q, want one prefix naming the tenant", err)
			}
			if se := (*introspection.StatusError)(nil); errors.As(err, &se) {
				t.Errorf("a 200 body problem is a StatusError: %q", err)
			}
		})
	}
}

// A body cut short by the connection (Content-Length promises more) is an
// error, and is not retried: the response had started.
func TestTruncatedResponse(t *testing.T) {
	t.Parallel()
	as := newAS(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"active":true,`)
	})
	res, err := introspect(t, newClient(t, options(as.URL)), testToken)
	err = mustFail(t, res, err)
	if !strings.Contains(err.Error(), "reading the response failed") {
		t.Errorf("error = %q", err)
	}
	if n := as.Total(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestClaimValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		check func(*introspection.Claims) bool
	}{
		{"exp 1.7e9", `{"active":true,"exp":1.7e9}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1700000000, 0))
		}},
		{"exp fractional", `{"active":true,"exp":1700000000.5}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1700000000, 500_000_000))
		}},
		{"nulls absent", `{"active":true,"sub":null,"exp":null,"aud":null,"scope":null,"scp":["s"],"x":null}`, func(c *introspection.Claims) bool {
			_, hasSub := c.Raw["sub"]
			_, hasX := c.Raw["x"]
			return c.Subject == "" && c.Expiry.IsZero() && c.Audience == nil && !hasSub && !hasX &&
				reflect.DeepEqual(c.Scopes, []string{"s"})
		}},
		{"inactive", `{"active":false}`, func(c *introspection.Claims) bool { return !c.Active }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, tc.body))
			res := mustIntrospect(t, newClient(t, options(as.URL)), testToken)
			if !tc.check(res.Claims) {
				t.Errorf("claims = %+v", res.Claims)
			}
		})
	}
}

// margin absorbs scheduling noise (the race detector slows things down).
const margin = 700 * time.Millisecond

func TestTimeout(t *testing.T) {
	t.Parallel()
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		as := newAS(t, func(_ http.ResponseWriter, r *http.Request) { hang(r) })
		opts := options(as.URL)
		opts.Timeout = 300 * time.Millisecond
		start := time.Now()
		res, err := introspect(t, newClient(t, opts), testToken)
		elapsed := time.Since(start)
		err = mustFail(t, res, err)
		if elapsed < opts.Timeout || elapsed > opts.Timeout+margin {
			t.Errorf("returned after %v, want about %v", elapsed, opts.Timeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Errorf("error = %q", err)
		}
		if n := as.Total(); n != 1 {
			t.Errorf("%d attempts, want 1 (timeouts are not retried)", n)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"active":`)
			w.(http.Flusher).Flush()
			hang(r)
		})
		opts := options(as.URL)
		opts.Timeout = 300 * time.Millisecond
		start := time.Now()
		res, err := introspect(t, newClient(t, opts), testToken)
		elapsed := time.Since(start)
		err = mustFail(t, res, err)
		if elapsed < opts.Timeout || elapsed > opts.Timeout+margin {
			t.Errorf("returned after %v, want about %v", elapsed, opts.Timeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("default 2s", func(t *testing.T) {
		t.Parallel()
		as := newAS(t, func(_ http.ResponseWriter, r *http.Request) { hang(r) })
		opts := options(as.URL)
		opts.Timeout = 0
		start := time.Now()
		res, err := introspect(t, newClient(t, opts), testToken)
		elapsed := time.Since(start)
		mustFail(t, res, err)
		if elapsed < introspection.DefaultTimeout || elapsed > introspection.DefaultTimeout+margin {
			t.Errorf("returned after %v, want about 2s", elapsed)
		}
	})
	t.Run("caller deadline first", func(t *testing.T) {
		t.Parallel()
		as := newAS(t, func(_ http.ResponseWriter, r *http.Request) { hang(r) })
		opts := options(as.URL)
		opts.Timeout = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := newClient(t, opts).Introspect(ctx, testToken)
		elapsed := time.Since(start)
		err = mustFail(t, res, err)
		if elapsed > 200*time.Millisecond+margin {
			t.Errorf("returned after %v, want about 200ms", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller's deadline") {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		as := newAS(t, func(_ http.ResponseWriter, r *http.Request) { hang(r) })
		opts := options(as.URL)
		opts.Timeout = 5 * time.Second
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		res, err := newClient(t, opts).Introspect(ctx, testToken)
		elapsed := time.Since(start)
		err = mustFail(t, res, err)
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
			as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
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
			res, err := introspect(t, newClient(t, options(as.URL)), testToken)
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
			if n := as.Total(); n != int64(tc.wantCalls) {
				t.Errorf("%d attempts, want %d", n, tc.wantCalls)
			}
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
	res, err := introspect(t, newClient(t, opts), testToken)
	err = mustFail(t, res, err)
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
		res, err := introspect(t, newClient(t, options(as.URL)), testToken)
		err = mustFail(t, res, err)
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
		res, err := introspect(t, newClient(t, options(strings.Replace(plain.URL, "http:", "https:", 1))), testToken)
		err = mustFail(t, res, err)
		if !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
			t.Errorf("error = %q", err)
		}
	})
	t.Run("plain HTTP to a TLS server", func(t *testing.T) {
		res, err := introspect(t, newClient(t, options(strings.Replace(as.URL, "https:", "http:", 1))), testToken)
		mustFail(t, res, err)
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

func TestNewClientErrors(t *testing.T) {
	t.Parallel()
	notPEM := t.TempDir() + "/not.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*introspection.Options)
		want string
	}{
		{"empty url", func(o *introspection.Options) { o.URL = "" }, "url"},
		{"relative url", func(o *introspection.Options) { o.URL = "/oauth2/introspect" }, "url"},
		{"ftp url", func(o *introspection.Options) { o.URL = "ftp://idp/x" }, "url"},
		{"bad url", func(o *introspection.Options) { o.URL = "http://[::1" }, "url"},
		{"userinfo", func(o *introspection.Options) { o.URL = "https://u:" + testSecret + "@idp/x" }, "credentials"},
		{"unknown method", func(o *introspection.Options) { o.AuthMethod = "digest" }, "unknown auth_method"},
		{"private_key_jwt", func(o *introspection.Options) { o.AuthMethod = introspection.AuthPrivateKeyJWT }, "private_key_file"},
		{"bearer", func(o *introspection.Options) { o.AuthMethod = introspection.AuthBearer }, "token_url"},
		{"basic without id", func(o *introspection.Options) { o.ClientID = "" }, "client_id"},
		{"post without secret", func(o *introspection.Options) {
			o.AuthMethod, o.ClientSecret = introspection.AuthClientSecretPost, ""
		}, "client_secret"},
		{"negative timeout", func(o *introspection.Options) { o.Timeout = -time.Second }, "timeout"},
		{"header name", func(o *introspection.Options) { o.Headers = map[string]string{"X Bad": "v"} }, "header name"},
		{"header value", func(o *introspection.Options) { o.Headers = map[string]string{"X-Key": testSecret + "\r\nX-Evil: 1"} }, "control character"},
		{"content-type header", func(o *introspection.Options) { o.Headers = map[string]string{"content-type": "text/plain"} }, "Content-Type"},
		{"authorization with basic", func(o *introspection.Options) { o.Headers = map[string]string{"Authorization": "x"} }, "Authorization"},
		{"missing ca_file", func(o *introspection.Options) { o.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
		{"ca_file without PEM", func(o *introspection.Options) { o.CAFile = notPEM }, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := options("https://idp.acme.example/oauth2/introspect")
			tc.edit(&opts)
			c, err := introspection.NewClient(opts)
			if err == nil {
				c.Close()
				t.Fatal("NewClient accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"acme"`) {
				t.Errorf("error = %q, want it to mention %q and the tenant", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
	// The zero AuthMethod means client_secret_basic and is valid.
	c, err := introspection.NewClient(options("https://idp.acme.example/oauth2/introspect"))
	if err != nil {
		t.Fatalf("valid options rejected: %v", err)
	}
	c.Close()
}

// Errors must never carry the token or the secret, whatever the server
// sends back.
func TestErrorsNeverLeak(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-Secret-Value-9"
	echo := testToken + " " + secret
	behaviours := map[string]http.HandlerFunc{
		"401 echo":         introspectiontest.Reply(401, `{"error":"invalid_client","error_description":"`+echo+`"}`),
		"401 token code":   introspectiontest.Reply(401, `{"error":"`+testToken+`"}`),
		"401 secret code":  introspectiontest.Reply(401, `{"error":"`+secret+`"}`),
		"500 html echo":    introspectiontest.Reply(500, "<html>"+echo+"</html>"),
		"200 text echo":    introspectiontest.Reply(200, echo),
		"200 wrong active": introspectiontest.Reply(200, `{"active":"`+testToken+`"}`),
		"200 wrong exp":    introspectiontest.Reply(200, `{"active":true,"exp":"`+testToken+`"}`),
		"200 too big":      introspectiontest.Reply(200, `{"active":true,"x":"`+strings.Repeat(testToken, 40000)+`"}`),
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/?token="+testToken, http.StatusFound)
		},
		// net/http quotes pieces of a malformed status line in its error.
		"malformed status code": rawResponse("HTTP/1.1 " + testToken + " OK\r\n\r\n"),
		"malformed status line": rawResponse(testToken + " " + secret + "\r\n\r\n"),
	}
	for name, h := range behaviours {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, h)
			for _, method := range []introspection.AuthMethod{introspection.AuthClientSecretBasic, introspection.AuthClientSecretPost} {
				opts := options(as.URL)
				opts.AuthMethod, opts.ClientSecret = method, secret
				res, err := introspect(t, newClient(t, opts), testToken)
				err = mustFail(t, res, err)
				msg := err.Error()
				for _, leak := range []string{testToken, testToken[:16], secret, url.QueryEscape(secret)} {
					if strings.Contains(msg, leak) {
						t.Errorf("%s: error %q contains %q", method, msg, leak)
					}
				}
				if len(msg) > 200 {
					t.Errorf("error is %d bytes long: %q", len(msg), msg)
				}
			}
		})
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
	if n := as.Total(); n != 320 {
		t.Errorf("%d requests, want 320", n)
	}
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
			deadline := time.Now().Add(2 * time.Second)
			for as.ConnsClosed() != 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := as.ConnsClosed(); n != 1 {
				t.Errorf("%d connections closed after Close, want 1", n)
			}
		})
	}
}

func TestOptionsStringRedactsSecret(t *testing.T) {
	t.Parallel()
	opts := options("https://idp/x")
	for _, s := range []string{fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), fmt.Sprintf("%v", &opts)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%q contains the secret", s)
		}
		if !strings.Contains(s, "acme") || !strings.Contains(s, "REDACTED") {
			t.Errorf("%q lost the useful fields", s)
		}
	}
}

// rawResponse answers with bytes that need not be valid HTTP.
func rawResponse(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
		_ = conn.Close()
	}
}
