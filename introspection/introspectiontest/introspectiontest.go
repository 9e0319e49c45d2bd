// Package introspectiontest holds the fakes of an OAuth 2.0 authorization
// server for tests: Server, an introspection endpoint (RFC 7662) over HTTP,
// and Introspector, an in-memory introspection.Introspector for the layers
// above the client. Both answer per token, count calls and calls in flight,
// and inject latency and faults.
//
// Every method of Server and Introspector is safe for concurrent use,
// including while requests or calls are being answered. Nothing outside
// New, NewTLS and CAFile needs a testing.TB: NewServer serves the load
// generator too.
package introspectiontest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
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
)

// maxRecorded is how many requests a Server keeps for Requests.
const maxRecorded = 1000

// Request is what the server received in one request, body read. Its maps
// are shared between callers: treat it as read-only.
type Request struct {
	Method string
	URL    *url.URL // path and query as sent
	Host   string
	Header http.Header
	Body   string
	// Form is the form-encoded body (not the URL's query).
	Form url.Values
}

// BasicAuth is the request's Basic credentials as net/http reads them:
// base64-decoded only (ClientSecretBasic also form-url-decodes them).
func (r Request) BasicAuth() (username, password string, ok bool) {
	return (&http.Request{Header: r.Header}).BasicAuth()
}

// Server is a running fake introspection endpoint; any path of it is the
// endpoint. A token it was not told about is answered {"active":false}
// unless HandleUnknown says otherwise. It keeps the last 1000 requests.
type Server struct {
	*httptest.Server

	counts
	lis *faultListener

	mu       sync.Mutex // guards what follows
	answers  map[string]http.HandlerFunc
	unknown  http.HandlerFunc
	delay    time.Duration
	fault    Fault
	auth     clientAuth
	recorded []Request // a ring once full; next is the oldest
	next     int

	refused atomic.Int64
	opened  atomic.Int64
	closed  atomic.Int64

	stop     chan struct{}
	stopOnce sync.Once
}

// New starts a Server on a loopback port; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := start(false, nil)
	t.Cleanup(s.Close)
	return s
}

// NewTLS is New over HTTPS, with httptest's certificate or else with certs
// (CAFile writes the first one).
func NewTLS(t testing.TB, certs ...tls.Certificate) *Server {
	t.Helper()
	s := start(true, certs)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a Server outside a test (the load generator); the caller
// closes it.
func NewServer() *Server { return start(false, nil) }

func start(useTLS bool, certs []tls.Certificate) *Server {
	s := &Server{answers: map[string]http.HandlerFunc{}, stop: make(chan struct{}), lis: newFaultListener()}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.Listener.Close()
	s.Listener = s.lis
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	// Failed TLS handshakes and hijacked connections are what some tests
	// are about; the server's own log would only be noise.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if len(certs) > 0 {
		s.TLS = &tls.Config{Certificates: certs}
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	return s
}

// Close releases hanging requests and stops the server. It may be called
// more than once.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.Server.Close()
}

// CAFile writes the certificate of a server made by NewTLS to a PEM file in
// a temporary directory and returns its path (for ca_file): httptest's own
// is its CA.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Reply is a handler that answers status with body, labelled
// application/json whatever the body is, as servers with quirks do.
func Reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// ReplyClaims is a handler that answers 200 with claims as JSON (include
// "active").
func ReplyClaims(claims map[string]any) http.HandlerFunc {
	body, err := json.Marshal(claims)
	if err != nil {
		panic("introspectiontest: claims: " + err.Error())
	}
	return Reply(http.StatusOK, string(body))
}

// Claims makes token answer 200 with claims as JSON (include "active").
func (s *Server) Claims(token string, claims map[string]any) { s.Handle(token, ReplyClaims(claims)) }

// Raw makes token answer status with body (see Reply): a non-JSON body, a
// 400 or 401 with an OAuth error, and so on.
func (s *Server) Raw(token string, status int, body string) { s.Handle(token, Reply(status, body)) }

// Handle makes h answer every introspection of token. The request's body
// has been read: h finds it in r.PostForm.
func (s *Server) Handle(token string, h http.HandlerFunc) {
	guarded(&s.mu, func() { s.answers[token] = h })
}

// HandleUnknown makes h answer every token without an answer of its own
// (nil: {"active":false} again). A handler that looks at r.URL.Path serves
// several endpoints, such as WSO2's tenant paths.
func (s *Server) HandleUnknown(h http.HandlerFunc) { guarded(&s.mu, func() { s.unknown = h }) }

// Forget makes token answer as an unknown token again.
func (s *Server) Forget(token string) { guarded(&s.mu, func() { delete(s.answers, token) }) }

// SetDelay makes every answer wait d first (0: none).
func (s *Server) SetDelay(d time.Duration) { guarded(&s.mu, func() { s.delay = d }) }

// RequireBasicAuth makes the server refuse (401 invalid_client) requests
// without these client_secret_basic credentials, which are decoded as RFC
// 6749 §2.3.1 says (see ClientSecretBasic).
func (s *Server) RequireBasicAuth(clientID, clientSecret string) {
	s.require(clientAuth{basic: true, id: clientID, secret: clientSecret})
}

// RequirePostAuth makes the server refuse (401 invalid_client) requests
// whose form lacks these client_secret_post credentials.
func (s *Server) RequirePostAuth(clientID, clientSecret string) {
	s.require(clientAuth{post: true, id: clientID, secret: clientSecret})
}

func (s *Server) require(a clientAuth) { guarded(&s.mu, func() { s.auth = a }) }

// Refused is the number of requests refused for their client credentials.
func (s *Server) Refused() int64 { return s.refused.Load() }

// ConnsOpened is the number of connections the server accepted so far.
func (s *Server) ConnsOpened() int64 { return s.opened.Load() }

// ConnsClosed is the number of those that are closed (or hijacked).
func (s *Server) ConnsClosed() int64 { return s.closed.Load() }

// Requests are the last 1000 requests (fewer before), oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]Request(nil), s.recorded[s.next:]...), s.recorded[:s.next]...)
}

// RequestsFor are those of Requests about token, e.g. to read the
// traceparent a check's introspection carried.
func (s *Server) RequestsFor(token string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Form.Get("token") == token {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	_ = r.ParseForm()
	token := r.PostForm.Get("token")
	defer s.enter(token)()
	u := *r.URL
	rec := Request{Method: r.Method, URL: &u, Host: r.Host, Header: r.Header.Clone(), Body: string(body), Form: url.Values{}}
	for k, v := range r.PostForm {
		rec.Form[k] = append([]string(nil), v...)
	}

	s.mu.Lock()
	s.record(rec)
	answer, ok := s.answers[token]
	if !ok {
		answer = s.unknown
	}
	delay, fault, auth := s.delay, s.fault, s.auth
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
	respond := func(w http.ResponseWriter, r *http.Request) { s.respond(w, r, answer, auth) }
	if fault.answers() {
		writeFault(w, r, fault, respond, s.stop)
		return
	}
	respond(w, r)
}

// respond is the server's answer without a fault: answer's, unless the
// client authentication or the method is wrong.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, answer http.HandlerFunc, auth clientAuth) {
	switch {
	case !auth.ok(r):
		s.refused.Add(1)
		if auth.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		}
		Reply(http.StatusUnauthorized, `{"error":"invalid_client"}`)(w, r)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
	case answer == nil:
		Reply(http.StatusOK, `{"active":false}`)(w, r)
	default:
		answer(w, r)
	}
}

// record is called with s.mu held.
func (s *Server) record(r Request) {
	if len(s.recorded) < maxRecorded {
		s.recorded = append(s.recorded, r)
		return
	}
	s.recorded[s.next] = r
	s.next = (s.next + 1) % maxRecorded
}

// clientAuth is the client authentication the server insists on.
type clientAuth struct {
	basic, post bool
	id, secret  string
}

func (a clientAuth) ok(r *http.Request) bool {
	switch {
	case a.basic:
		id, secret, ok := ClientSecretBasic(r)
		return ok && id == a.id && secret == a.secret
	case a.post:
		return r.PostForm.Get("client_id") == a.id && r.PostForm.Get("client_secret") == a.secret
	}
	return true
}

// ClientSecretBasic is r's client_secret_basic credentials decoded the way
// RFC 6749 §2.3.1 says an authorization server must: base64, split at the
// first ":", then form-url-decode each half. ok is false without a Basic
// header or when a half is not form-url-encoded.
func ClientSecretBasic(r *http.Request) (clientID, clientSecret string, ok bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return id, secret, true
}
