package nginxtest

// The test environment (tokengate in process, the fake authorization
// server behind it, the upstream behind nginx) and how a client talks to it.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/internal/app"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

const (
	templatePath  = "../../examples/nginx/nginx.conf"
	tokengatePath = "../../examples/nginx/tokengate.yaml"
	host          = "orders.acme.example" // the route's host in tokengate.yaml
	realm         = "acme"                // its tenant
)

// bindings are what the fake AS binds "dpop-bound" and "cert-bound" to: a
// client's DPoP key and its certificate (issued by the env's CA).
type bindings struct {
	key  *dpoptest.Key
	cert tls.Certificate
}

// env is one nginx + tokengate + fake AS + upstream.
type env struct {
	nginx, tokengate string
	nginxTLS         string // nginx's TLS listener
	ca               *testsupport.CA
	bound            *bindings
	srv              *app.Server
	up               *upstream
}

func setup(t *testing.T) *env {
	t.Helper()
	bin := findNginx(t) // first: without nginx nothing else is worth starting
	ca := testsupport.NewCA(t, "nginxtest CA")
	b := &bindings{key: dpoptest.Fresh(t, "ES256"), cert: ca.KeyPair(t, 10, "client", false)}
	as := newAS(t, b)
	up := newUpstream(t)
	srv := startTokengate(t, as.URL)
	l := startNginx(t, bin, srv.HTTPAddress(), up.Listener.Addr().String(), ca)
	return &env{nginx: l.plain, nginxTLS: l.tls, ca: ca, bound: b, tokengate: srv.HTTPAddress(), srv: srv, up: up}
}

// newAS is the fake authorization server behind tokengate, which must ask
// it at /oauth2/introspect with tokengate.yaml's client credentials: "good"
// is active with scope orders.read, "reader" is active with scope profile
// only, "dpop-bound" is good but bound to the DPoP key of b (cnf.jkt,
// token_type DPoP), "cert-bound" is good but bound to b's certificate
// (cnf x5t#S256), "broken" makes the server fail (500), every other token
// is inactive.
func newAS(t *testing.T, b *bindings) *introspectiontest.Server {
	t.Helper()
	as := introspectiontest.New(t)
	as.RequireBasicAuth("rs-acme", "s3cret")
	exp := time.Now().Add(time.Hour).Unix()
	as.Claims("good", map[string]any{"active": true, "sub": "user-1", "scope": "orders.read", "aud": "api://orders", "token_type": "Bearer", "exp": exp})
	as.Claims("reader", map[string]any{"active": true, "sub": "user-2", "client_id": "app-2", "scope": "profile", "aud": "api://orders", "token_type": "Bearer", "exp": exp})
	as.Claims("dpop-bound", map[string]any{"active": true, "sub": "user-3", "scope": "orders.read", "aud": "api://orders", "token_type": "DPoP", "exp": exp,
		"cnf": map[string]any{"jkt": b.key.Thumbprint()}})
	as.Claims("cert-bound", map[string]any{"active": true, "sub": "user-4", "scope": "orders.read", "aud": "api://orders", "token_type": "Bearer", "exp": exp,
		"cnf": map[string]any{"x5t#S256": sendertest.X5T(b.cert)}})
	as.Raw("broken", http.StatusInternalServerError, "<html>oops</html>")
	t.Cleanup(func() {
		for _, r := range as.Requests() {
			if r.Method != http.MethodPost || r.URL.Path != "/oauth2/introspect" {
				t.Errorf("introspection request %s %s, want POST /oauth2/introspect", r.Method, r.URL.Path)
			}
		}
		if n := as.Refused(); n != 0 {
			t.Errorf("%d introspection requests without tokengate.yaml's client credentials", n)
		}
	})
	return as
}

// upstream is the protected application: it records what reaches it and
// answers 200 "upstream ok".
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// startTokengate runs examples/nginx/tokengate.yaml in process, in front of
// as, on free loopback ports.
func startTokengate(t *testing.T, asURL string) *app.Server {
	t.Helper()
	t.Setenv("ACME_INTROSPECTION_URL", asURL+"/oauth2/introspect")
	t.Setenv("ACME_CLIENT_ID", "rs-acme")
	t.Setenv("ACME_CLIENT_SECRET", "s3cret")
	cfg, err := os.ReadFile(tokengatePath)
	if err != nil {
		t.Fatal(err)
	}
	path := testsupport.WriteConfig(t, string(cfg))
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := app.Start(context.Background(), app.Options{
		ConfigPath: path, Logger: logger, Version: "test",
		GRPCAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("starting tokengate with %s: %v", tokengatePath, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// response is what a client got back.
type response struct {
	status int
	header http.Header
	body   string
}

// send writes one HTTP/1.1 request as is (the target unnormalized) to addr
// and reads the answer.
func send(t *testing.T, addr, method, target string, headers ...string) response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return exchange(t, c, method, target, headers...)
}

// sendTLS is send over TLS (nginx's certificate issued by ca), presenting
// certs as the client certificate (none: no client certificate).
func sendTLS(t *testing.T, addr string, ca *testsupport.CA, method, target string, certs []tls.Certificate, headers ...string) response {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{RootCAs: ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return exchange(t, c, method, target, headers...)
}

// exchange writes one request on c, reads the answer and closes c.
func exchange(t *testing.T, c net.Conn, method, target string, headers ...string) response {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// direct asks tokengate itself, the way nginx's auth subrequest does.
func direct(t *testing.T, tokengate, method, target string, headers ...string) response {
	t.Helper()
	hs := append([]string{"X-Original-URI: " + target, "X-Original-Method: " + method}, headers...)
	return send(t, tokengate, "GET", "/authz", hs...)
}

// deny checks a deny through nginx: the status, exactly one (or no)
// WWW-Authenticate, a JSON body, the upstream not reached; and, when
// sameAsTokengate, nginx's answer equals tokengate's own.
func (e *env) deny(t *testing.T, method, target string, status int, challenge, errCode string, sameAsTokengate bool, headers ...string) response {
	t.Helper()
	before := e.up.count()
	r := send(t, e.nginx, method, target, headers...)
	if n := e.up.count() - before; n != 0 {
		t.Errorf("%s %s reached the upstream %d time(s): %v", method, target, n, e.up.last().Header)
	}
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d (body %q)", method, target, r.status, status, r.body)
	}
	if got := r.header.Values("WWW-Authenticate"); (challenge == "" && len(got) != 0) || (challenge != "" && (len(got) != 1 || got[0] != challenge)) {
		t.Errorf("%s %s: WWW-Authenticate %q, want %q", method, target, got, challenge)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content-type %q", method, target, ct)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["error"] != errCode || body["error_description"] == "" {
		t.Errorf("%s %s: body %q, want JSON with error %q (%v)", method, target, r.body, errCode, err)
	}
	if strings.Contains(r.body, "upstream ok") {
		t.Errorf("%s %s: upstream body in a deny", method, target)
	}
	if sameAsTokengate {
		d := direct(t, e.tokengate, method, target, headers...)
		if d.status != r.status || d.header.Get("WWW-Authenticate") != r.header.Get("WWW-Authenticate") || d.body != r.body {
			t.Errorf("%s %s: nginx answered %d %q %s, tokengate %d %q %s", method, target,
				r.status, r.header.Get("WWW-Authenticate"), r.body, d.status, d.header.Get("WWW-Authenticate"), d.body)
		}
	}
	return r
}
