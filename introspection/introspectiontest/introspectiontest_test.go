package introspectiontest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func introspect(t *testing.T, ctx context.Context, s *introspectiontest.Server, token string, basic ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnswersAndCounts(t *testing.T) {
	s := introspectiontest.New(t)
	s.Claims("good", map[string]any{"active": true, "sub": "u1"})
	s.Handle("custom", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	ctx := context.Background()

	code, body := introspect(t, ctx, s, "good")
	var claims map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &claims) != nil || claims["sub"] != "u1" || claims["active"] != true {
		t.Fatalf("good: %d %s", code, body)
	}
	if code, body := introspect(t, ctx, s, "unknown"); code != 200 || body != `{"active":false}` {
		t.Fatalf("unknown: %d %s", code, body)
	}
	if code, _ := introspect(t, ctx, s, "custom"); code != http.StatusTeapot {
		t.Fatalf("custom: %d", code)
	}
	s.Forget("good")
	if _, body := introspect(t, ctx, s, "good"); body != `{"active":false}` {
		t.Fatalf("forgotten: %s", body)
	}
	if s.Calls("good") != 2 || s.Calls("unknown") != 1 || s.Total() != 4 {
		t.Fatalf("calls good=%d unknown=%d total=%d", s.Calls("good"), s.Calls("unknown"), s.Total())
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[3].Form.Get("token") != "good" || reqs[0].Method != http.MethodPost || reqs[0].URL.Path != "/introspect" {
		t.Fatalf("requests %+v", reqs)
	}
	if tp := reqs[3].Header.Get("Traceparent"); !strings.Contains(tp, "0af7651916cd43dd8448eb211c80319c") {
		t.Fatalf("last traceparent %q", tp)
	}
	if got := s.RequestsFor("good"); len(got) != 2 || got[0].Body != "token=good" {
		t.Fatalf("requests for good %+v", got)
	}
}

func TestRawUnknownAndRecordLimit(t *testing.T) {
	s := introspectiontest.New(t)
	s.Raw("quirk", http.StatusBadRequest, "{'error': 'Invalid input'}")
	ctx := context.Background()
	if code, body := introspect(t, ctx, s, "quirk"); code != 400 || body != "{'error': 'Invalid input'}" {
		t.Fatalf("raw: %d %s", code, body)
	}
	s.HandleUnknown(func(w http.ResponseWriter, r *http.Request) {
		introspectiontest.Reply(http.StatusOK, `{"active":true,"sub":"`+r.PostForm.Get("token")+`"}`)(w, r)
	})
	if _, body := introspect(t, ctx, s, "any"); body != `{"active":true,"sub":"any"}` {
		t.Fatalf("unknown: %s", body)
	}
	s.HandleUnknown(nil)
	if _, body := introspect(t, ctx, s, "any"); body != `{"active":false}` {
		t.Fatalf("unknown after reset: %s", body)
	}
	for range 1000 {
		introspect(t, ctx, s, "many")
	}
	if reqs := s.Requests(); len(reqs) != 1000 || reqs[999].Form.Get("token") != "many" || s.Total() != 1003 {
		t.Fatalf("%d requests kept of %d", len(reqs), s.Total())
	}
	if s.ConnsOpened() < 1 || s.ConnsOpened() > 3 {
		t.Fatalf("%d connections for sequential requests", s.ConnsOpened())
	}
}

func TestPostAuth(t *testing.T) {
	s := introspectiontest.New(t)
	s.RequirePostAuth("rs-globex", "other")
	s.Claims("good", map[string]any{"active": true})
	post := func(form url.Values) int {
		resp, err := s.Client().PostForm(s.URL, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{"token": {"good"}, "client_id": {"rs-globex"}}); code != 401 {
		t.Fatalf("no secret: %d", code)
	}
	if code := post(url.Values{"token": {"good"}, "client_id": {"rs-globex"}, "client_secret": {"other"}}); code != 200 {
		t.Fatalf("right credentials: %d", code)
	}
	if s.Refused() != 1 || s.Calls("good") != 2 {
		t.Fatalf("refused %d, calls %d", s.Refused(), s.Calls("good"))
	}
}

func TestTLS(t *testing.T) {
	s := introspectiontest.NewTLS(t)
	pemBytes, err := os.ReadFile(s.CAFile(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CAFile holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.PostForm(s.URL, url.Values{"token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.StatusCode != 200 || s.Total() != 1 {
		t.Fatalf("%d, %d requests", resp.StatusCode, s.Total())
	}
	testsupport.WaitFor(t, 5*time.Second, "the connection to close", func() bool { return s.ConnsClosed() == 1 })
}

func TestBasicAuth(t *testing.T) {
	s := introspectiontest.New(t)
	s.RequireBasicAuth("rs:acme", "s3cret%value")
	s.Claims("good", map[string]any{"active": true})
	ctx := context.Background()
	if code, body := introspect(t, ctx, s, "good"); code != 401 || !strings.Contains(body, "invalid_client") {
		t.Fatalf("no credentials: %d %s", code, body)
	}
	if code, _ := introspect(t, ctx, s, "good", "rs:acme", "wrong"); code != 401 {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, body := introspect(t, ctx, s, "good", "rs:acme", "s3cret%value"); code != 200 || !strings.Contains(body, `"active":true`) {
		t.Fatalf("right credentials: %d %s", code, body)
	}
}

func TestFaultsDelayAndPeak(t *testing.T) {
	s := introspectiontest.New(t)
	ctx := context.Background()
	s.SetFault(introspectiontest.Fault{Status: 502, Body: "bad gateway"})
	if code, body := introspect(t, ctx, s, "x"); code != 502 || body != "bad gateway" {
		t.Fatalf("status fault: %d %s", code, body)
	}
	s.SetFault(introspectiontest.Fault{Body: "<html>"})
	if code, body := introspect(t, ctx, s, "x"); code != 200 || body != "<html>" {
		t.Fatalf("body fault: %d %s", code, body)
	}
	s.SetFault(introspectiontest.Fault{Hang: true})
	hctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if code, _ := introspect(t, hctx, s, "x"); code != 0 {
		t.Fatalf("hang answered %d", code)
	}
	cancel()
	s.SetFault(introspectiontest.Fault{})
	// The hung request counts as in flight until its handler sees the
	// client gone: wait for that, so that the peak below is the three.
	testsupport.WaitFor(t, 5*time.Second, "the hung request to end", func() bool { return s.InFlight() == 0 })
	s.ResetPeak()

	s.SetDelay(150 * time.Millisecond)
	var wg sync.WaitGroup
	start := time.Now()
	for range 3 {
		wg.Go(func() { introspect(t, ctx, s, "y") })
	}
	wg.Wait()
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("delay not applied: %v", el)
	}
	if s.PeakInFlight() != 3 || s.InFlight() != 0 {
		t.Fatalf("peak %d, in flight %d", s.PeakInFlight(), s.InFlight())
	}
	s.ResetPeak()
	if s.PeakInFlight() != 0 {
		t.Fatalf("peak %d after ResetPeak", s.PeakInFlight())
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	s := introspectiontest.New(t)
	s.SetFault(introspectiontest.Fault{Hang: true})
	done := make(chan struct{})
	go func() {
		defer close(done)
		introspect(t, context.Background(), s, "x")
	}()
	testsupport.WaitFor(t, 5*time.Second, "the request to arrive", func() bool { return s.InFlight() != 0 })
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a hanging request")
	}
}

// The connection faults: Refuse stops listening on the address until
// cleared; BlackHole holds connections without reading them; Truncate and
// Drip spoil the token's own answer.
func TestConnectionFaults(t *testing.T) {
	s := introspectiontest.New(t)
	s.Claims("good", map[string]any{"active": true, "sub": "u1"})
	ctx := context.Background()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 300*time.Millisecond) }

	s.SetFault(introspectiontest.Fault{Refuse: true})
	s.Client().CloseIdleConnections()
	if _, err := introspect(t, ctx, s, "good"); !strings.Contains(err, "connection refused") {
		t.Fatalf("refused: %s", err)
	}
	s.SetFault(introspectiontest.Fault{})
	if code, _ := introspect(t, ctx, s, "good"); code != 200 {
		t.Fatalf("after Refuse: %d", code)
	}

	s.SetFault(introspectiontest.Fault{BlackHole: true})
	s.Client().CloseIdleConnections()
	hctx, cancel := short()
	if code, _ := introspect(t, hctx, s, "good"); code != 0 {
		t.Fatalf("black hole answered %d", code)
	}
	cancel()
	if s.BlackHoled() != 1 || s.Calls("good") != 1 {
		t.Fatalf("black-holed %d, calls %d; want 1 and the earlier one", s.BlackHoled(), s.Calls("good"))
	}

	s.SetFault(introspectiontest.Fault{Truncate: true})
	if code, body := introspect(t, ctx, s, "good"); code != 200 || body != `{"active":tru` {
		t.Fatalf("truncated: %d %q, want half the body", code, body)
	}

	s.SetFault(introspectiontest.Fault{Drip: 10 * time.Millisecond})
	start := time.Now()
	code, body := introspect(t, ctx, s, "good")
	if code != 200 || body != `{"active":true,"sub":"u1"}` || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("drip: %d %q after %v", code, body, time.Since(start))
	}
}
