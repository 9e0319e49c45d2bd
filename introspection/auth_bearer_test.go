package introspection_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// tokenServer is a fake client-credentials token endpoint. It issues
// "at-1", "at-2", ... and checks the client's Basic credentials.
type tokenServer struct {
	*httptest.Server
	calls     atomic.Int32
	expiresIn int           // seconds; 0 omits expires_in
	delay     time.Duration // before answering
	status    int           // 0 means 200
	body      string        // when set, the answer instead of a token
}

// wantRequests fails t unless the token endpoint got n requests in all;
// why is added to the message.
func (ts *tokenServer) wantRequests(t *testing.T, n int32, why string) {
	t.Helper()
	if got := ts.calls.Load(); got != n {
		t.Errorf("%d token requests, want %d%s", got, n, why)
	}
}

func newTokenServer(t *testing.T, ts *tokenServer, useTLS bool) *tokenServer {
	t.Helper()
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.calls.Add(1)
		_ = r.ParseForm()
		// Basic with both halves form-url-encoded (RFC 6749 §2.3.1).
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("rs-acme")+":"+url.QueryEscape(testSecret)))
		if got := r.Header.Get("Authorization"); got != want {
			t.Errorf("token request Authorization = %q, want %q", got, want)
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Has("client_secret") {
			t.Errorf("token request form = %v", r.PostForm)
		}
		time.Sleep(ts.delay)
		w.Header().Set("Content-Type", "application/json")
		if ts.body != "" {
			if ts.status != 0 {
				w.WriteHeader(ts.status)
			}
			_, _ = io.WriteString(w, ts.body)
			return
		}
		exp := ""
		if ts.expiresIn > 0 {
			exp = fmt.Sprintf(`,"expires_in":%d`, ts.expiresIn)
		}
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer"%s}`, n, exp)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // failed TLS handshakes are expected
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// bearerAS answers 200 to "Bearer <accept>" ("" accepts any) and 401
// otherwise; the test changes what it accepts in the atomic.Value.
func bearerAS(t *testing.T, accepted string, useTLS bool) (*introspectiontest.Server, *atomic.Value) {
	accept := &atomic.Value{}
	accept.Store(accepted)
	h := func(w http.ResponseWriter, r *http.Request) {
		want, _ := accept.Load().(string)
		got := r.Header.Get("Authorization")
		if !strings.HasPrefix(got, "Bearer at-") || want != "" && got != "Bearer "+want {
			introspectiontest.Reply(401, `{"error":"invalid_token"}`)(w, r)
			return
		}
		introspectiontest.Reply(200, activeBody)(w, r)
	}
	if useTLS {
		return newASTLS(t, h), accept
	}
	return newAS(t, h), accept
}

func bearerOptions(introspectURL, tokenURL string) introspection.Options {
	o := options(introspectURL)
	o.AuthMethod = introspection.AuthBearer
	o.TokenURL = tokenURL
	return o
}

func TestBearerTokenReused(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, &tokenServer{expiresIn: 3600}, false)
	as, _ := bearerAS(t, "at-1", false)
	c := newClient(t, bearerOptions(as.URL, ts.URL))
	for range 5 {
		mustIntrospect(t, c, testToken)
	}
	ts.wantRequests(t, 1, " for 5 introspections")
	for _, r := range as.Requests() {
		if r.Form.Has("client_id") || r.Form.Has("client_secret") || r.Form.Get("token") != testToken {
			t.Errorf("introspection form = %v", r.Form)
		}
	}
}

func TestBearerTokenRefreshedWhenExpiring(t *testing.T) {
	t.Parallel()
	// 5 s is within oauth2's 10 s early expiry: every use needs a new one.
	ts := newTokenServer(t, &tokenServer{expiresIn: 5}, false)
	as, accept := bearerAS(t, "", false)
	c := newClient(t, bearerOptions(as.URL, ts.URL))
	for i := 1; i <= 3; i++ {
		accept.Store(fmt.Sprintf("at-%d", i)) // only the newest token works
		if _, err := introspect(t, c, testToken); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	ts.wantRequests(t, 3, "")
}

func TestBearerConcurrentCallersShareOneTokenRequest(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, &tokenServer{expiresIn: 3600, delay: 100 * time.Millisecond}, false)
	as, _ := bearerAS(t, "at-1", false)
	c := newClient(t, bearerOptions(as.URL, ts.URL))
	errs := make(chan error, 50)
	for range 50 {
		go func() {
			_, err := c.Introspect(context.Background(), testToken)
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ts.wantRequests(t, 1, " for 50 concurrent introspections")
	wantTotal(t, as, 50, " (one introspection a caller)")
}

func TestBearerTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ts     *tokenServer
		closed bool
		want   string
	}{
		{"401", &tokenServer{status: 401, body: `{"error":"invalid_client"}`}, false, `token endpoint answered 401 (error "invalid_client")`},
		{"secret echoed", &tokenServer{status: 400, body: `{"error":"` + testSecret + `"}`}, false, "token endpoint answered 400"},
		{"not a token", &tokenServer{body: `{"token_type":"Bearer","note":"` + testSecret + `"}`}, false, "without a valid access token"},
		{"unreachable", &tokenServer{}, true, "token request failed: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, tc.ts, false)
			if tc.closed {
				ts.Close()
			}
			as, _ := bearerAS(t, "", false)
			err := mustRefuse(t, newClient(t, bearerOptions(as.URL, ts.URL+"/token?x=1")))
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tenant acme") {
				t.Errorf("error = %q, want it to contain %q and the tenant", err, tc.want)
			}
			for _, leak := range []string{testSecret, "/token", "x=1"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks %q", err, leak)
				}
			}
			wantTotal(t, as, 0, " (no introspection without an access token)")
		})
	}
}

func TestBearerRejectedTokenIsDropped(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, &tokenServer{expiresIn: 3600}, false)
	as, accept := bearerAS(t, "at-1", false)
	c := newClient(t, bearerOptions(as.URL, ts.URL))
	mustIntrospect(t, c, testToken)
	accept.Store("at-2") // the server revoked at-1
	mustStatus(t, mustRefuse(t, c), http.StatusUnauthorized)
	wantTotal(t, as, 2, " after the 401 (no retry loop)")
	if _, err := introspect(t, c, testToken); err != nil {
		t.Fatalf("call after the 401: %v", err)
	}
	ts.wantRequests(t, 2, " (a new one after the 401)")
	// While the server keeps answering 401, each call uses the token the
	// previous one fetched after its 401 and drops it in turn: one token
	// request per call, never more.
	accept.Store("at-none")
	for range 2 {
		mustRefuse(t, c)
	}
	ts.wantRequests(t, 3, "")
}

func TestBearerTokenEndpointUsesTheClientTLSSettings(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, &tokenServer{expiresIn: 3600}, true)
	as, _ := bearerAS(t, "", true)
	opts := bearerOptions(as.URL, ts.URL)
	// Without the CA neither server is trusted; httptest TLS servers share
	// one certificate, so the AS's CA file also covers the token endpoint.
	if err := mustRefuse(t, newClient(t, opts)); !strings.Contains(err.Error(), "token request failed: TLS") {
		t.Errorf("error = %q, want a TLS failure at the token endpoint", err)
	}
	opts.CAFile = as.CAFile(t)
	mustIntrospect(t, newClient(t, opts), testToken)
}

func TestBearerWaitHonoursContext(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, &tokenServer{expiresIn: 3600, delay: 600 * time.Millisecond}, false)
	as, _ := bearerAS(t, "", false)
	c := newClient(t, bearerOptions(as.URL, ts.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := c.Introspect(ctx, testToken)
	err = mustFail(t, res, err)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 400*time.Millisecond {
		t.Errorf("after %s: error = %v, want the caller's deadline", time.Since(start), err)
	}
}
