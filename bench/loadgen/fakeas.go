package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client credentials tokengate uses at the fake authorization server.
const (
	asClientID     = "rs-bench"
	asClientSecret = "bench-secret"
	asIssuer       = "https://idp.bench.example"
	asAudience     = "api://orders"
	asPath         = "/oauth2/introspect"
)

// fakeAS is an in-process RFC 7662 introspection endpoint. Tokens starting
// with "good-" are active access tokens for the orders API; every other
// token is inactive. Each call sleeps delay so that concurrent misses
// overlap. It counts calls per token and in total, and the peak number of
// calls in flight, without locks on the counting path beyond a sync.Map.
type fakeAS struct {
	delay    time.Duration
	srv      *http.Server
	url      string
	total    atomic.Int64
	badAuth  atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	perToken sync.Map // token -> *atomic.Int64
}

// startFakeAS listens on a free loopback port and serves until close.
func startFakeAS(ctx context.Context, delay time.Duration) (*fakeAS, error) {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake authorization server: %w", err)
	}
	f := &fakeAS{delay: delay, url: "http://" + lis.Addr().String() + asPath}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+asPath, f.introspect)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := f.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("fake authorization server stopped: %v\n", err)
		}
	}()
	return f, nil
}

// close stops the server, waiting at most a few seconds for calls in flight.
func (f *fakeAS) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		f.srv.Close()
	}
}

func (f *fakeAS) introspect(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	f.total.Add(1)
	token := r.PostFormValue("token")
	f.counter(token).Add(1)

	id, secret, ok := r.BasicAuth()
	if !ok || id != asClientID || secret != asClientSecret {
		f.badAuth.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="bench"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(answerFor(token, time.Now())); err != nil {
		return // the client went away; nothing to report
	}
}

// answerFor is the introspection response for token at now.
func answerFor(token string, now time.Time) map[string]any {
	if !strings.HasPrefix(token, "good-") {
		return map[string]any{"active": false}
	}
	return map[string]any{
		"active":     true,
		"sub":        "bench-user",
		"client_id":  "bench-client",
		"scope":      "orders.read",
		"aud":        asAudience,
		"iss":        asIssuer,
		"token_type": "Bearer",
		"iat":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
	}
}

func (f *fakeAS) counter(token string) *atomic.Int64 {
	if c, ok := f.perToken.Load(token); ok {
		return c.(*atomic.Int64)
	}
	c, _ := f.perToken.LoadOrStore(token, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// callsFor is the number of calls the server received for token.
func (f *fakeAS) callsFor(token string) int64 {
	if c, ok := f.perToken.Load(token); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// resetPeak starts a new peak measurement at the current in-flight count.
func (f *fakeAS) resetPeak() { f.peak.Store(f.inFlight.Load()) }
