// Package introspectiontest is a fake OAuth 2.0 authorization server's
// introspection endpoint (RFC 7662) for tests: answers chosen per token,
// call counting, latency and fault injection. Any path of the server is the
// endpoint.
//
// Every method of Server is safe for concurrent use, including while the
// server is answering requests.
package introspectiontest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault makes every request fail in one way until cleared; the zero value
// is no fault.
type Fault struct {
	// Status, when not 0, is the HTTP status of every answer (with Body).
	Status int
	// Body replaces the answer's body (e.g. "<html>" for a non-JSON one);
	// with Status 0 the status is 200.
	Body string
	// Hang holds every request until the client gives up or the server is
	// closed; nothing is written.
	Hang bool
}

func (f Fault) active() bool { return f.Status != 0 || f.Body != "" || f.Hang }

// Server is a running fake introspection endpoint. A token it was not told
// about is answered {"active":false}.
type Server struct {
	*httptest.Server

	mu           sync.Mutex
	answers      map[string]http.HandlerFunc
	calls        map[string]int
	delay        time.Duration
	fault        Fault
	clientID     string
	clientSecret string
	basic        bool
	lastHeader   http.Header
	lastForm     url.Values

	total    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64

	stop     chan struct{}
	stopOnce sync.Once
}

// New starts a Server on a loopback port; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{answers: map[string]http.HandlerFunc{}, calls: map[string]int{}, stop: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging requests and stops the server. It may be called
// more than once.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.Server.Close()
}

// Claims makes token answer 200 with claims as JSON (include "active").
func (s *Server) Claims(token string, claims map[string]any) {
	body, err := json.Marshal(claims)
	if err != nil {
		panic("introspectiontest: claims: " + err.Error())
	}
	s.Handle(token, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// Handle makes h answer every introspection of token.
func (s *Server) Handle(token string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = h
}

// Forget makes token answer {"active":false} again.
func (s *Server) Forget(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.answers, token)
}

// SetDelay makes every answer wait d first (0: none).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetFault makes every request fail as f says; SetFault(Fault{}) clears it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// RequireBasicAuth makes the server refuse (401 invalid_client) requests
// without these client_secret_basic credentials, which are decoded as RFC
// 6749 §2.3.1 says (form-url-encoded before base64).
func (s *Server) RequireBasicAuth(clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.basic, s.clientID, s.clientSecret = true, clientID, clientSecret
}

// Calls is the number of introspection requests for token so far.
func (s *Server) Calls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[token]
}

// Total is the number of requests so far, whatever their token.
func (s *Server) Total() int64 { return s.total.Load() }

// InFlight is the number of requests being answered now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// PeakInFlight is the largest number of requests answered at once so far.
func (s *Server) PeakInFlight() int64 { return s.peak.Load() }

// LastHeader is a copy of the last request's headers (nil before any),
// e.g. to read the traceparent a client sent.
func (s *Server) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeader.Clone()
}

// LastForm is a copy of the last request's form (token, token_type_hint, ...).
func (s *Server) LastForm() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := url.Values{}
	for k, v := range s.lastForm {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.total.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	_ = r.ParseForm()
	token := r.PostForm.Get("token")

	s.mu.Lock()
	s.calls[token]++
	s.lastHeader = r.Header.Clone()
	s.lastForm = r.PostForm
	answer := s.answers[token]
	delay, fault := s.delay, s.fault
	authOK := !s.basic || s.checkBasic(r)
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
	switch {
	case fault.Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	case fault.active():
		status := fault.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, fault.Body)
		return
	case !authOK:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	case answer == nil:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":false}`)
		return
	}
	answer(w, r)
}

// checkBasic is called with s.mu held.
func (s *Server) checkBasic(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	return err1 == nil && err2 == nil && id == s.clientID && secret == s.clientSecret
}
