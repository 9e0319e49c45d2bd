// Package nginxtest runs a real nginx with the shipped auth_request
// configuration (examples/nginx/nginx.conf) in front of a test upstream, with
// tokengate (in process, examples/nginx/tokengate.yaml) answering its auth
// subrequests and a fake RFC 7662 authorization server behind tokengate.
//
// nginx is required: `make nginx-deps` installs it. The test fails, never
// skips, when it is missing.
package nginxtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
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

// findNginx is the nginx binary: on PATH, else /usr/sbin/nginx.
func findNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		if st, serr := os.Stat("/usr/sbin/nginx"); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			path = "/usr/sbin/nginx"
		}
	}
	if path == "" {
		t.Fatal("nginx is required for the nginx auth_request test; `make nginx-deps` installs it (Debian: apt-get install nginx-light or nginx)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -V: %v\n%s", path, err, out)
	}
	for _, module := range []string{"http_auth_request_module", "http_ssl_module"} {
		if !strings.Contains(string(out), "--with-"+module) {
			t.Fatalf("%s lacks ngx_%s, which the nginx auth_request test needs (Debian: apt-get install nginx-light or nginx)\n%s", path, module, out)
		}
	}
	t.Logf("%s: %s", path, strings.SplitN(string(out), "\n", 2)[0])
	return path
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
	path := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
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

var placeholder = regexp.MustCompile(`__[A-Z_]+__`)

// listeners are where a rendered nginx.conf listens: plain HTTP, and TLS
// with the server certificate and key files.
type listeners struct{ plain, tls, cert, key string }

// render fills the template's placeholders.
func render(t *testing.T, l listeners, tokengate, upstream, prefix string) string {
	t.Helper()
	tmpl, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("__LISTEN__", l.plain, "__TLS_LISTEN__", l.tls, "__TLS_CERT__", l.cert, "__TLS_KEY__", l.key,
		"__TOKENGATE__", tokengate, "__UPSTREAM__", upstream, "__PREFIX__", prefix).Replace(string(tmpl))
	if left := placeholder.FindAllString(conf, -1); len(left) > 0 {
		t.Fatalf("%s: placeholders left after rendering: %v", templatePath, left)
	}
	return conf
}

// startNginx renders the template into a fresh prefix and runs nginx in the
// foreground, single-process, with a server certificate of ca; it returns
// the addresses nginx listens on once it accepts connections. A port taken
// in between is retried.
func startNginx(t *testing.T, bin, tokengate, upstream string, ca *testsupport.CA) listeners {
	t.Helper()
	for attempt := 1; ; attempt++ {
		l, err := tryNginx(t, bin, tokengate, upstream, ca)
		if err == nil {
			return l
		}
		if attempt < 3 && strings.Contains(err.Error(), "Address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func tryNginx(t *testing.T, bin, tokengate, upstream string, ca *testsupport.CA) (listeners, error) {
	prefix := t.TempDir()
	l := listeners{plain: testsupport.FreeAddr(t), tls: testsupport.FreeAddr(t),
		cert: filepath.Join(prefix, "server.crt"), key: filepath.Join(prefix, "server.key")}
	certPEM, keyPEM := ca.Issue(t, 2, "nginx", true)
	for file, data := range map[string][]byte{l.cert: certPEM, l.key: keyPEM} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(render(t, l, tokengate, upstream, prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Output before the configuration's error_log takes over goes here.
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-p", prefix, "-c", conf, "-g", "daemon off; master_process off;")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logs := func() string {
		var b strings.Builder
		for _, name := range []string{"stderr.log", "error.log"} {
			data, _ := os.ReadFile(filepath.Join(prefix, name))
			fmt.Fprintf(&b, "--- nginx %s ---\n%s", name, data)
		}
		return b.String()
	}

	deadline := time.Now().Add(5 * time.Second)
	for _, addr := range []string{l.plain, l.tls} {
		for {
			select {
			case err := <-exited:
				return listeners{}, fmt.Errorf("nginx exited at start (%v)\n%s", err, logs())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				<-exited
				return listeners{}, fmt.Errorf("nginx did not accept connections on %s within 5s\n%s", addr, logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Log(logs())
		}
	})
	return l, nil
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

func TestNginxAuthRequest(t *testing.T) {
	start := time.Now()
	e := setup(t)
	t.Logf("nginx, tokengate, fake AS and upstream up in %v", time.Since(start).Round(time.Millisecond))

	t.Run("good token reaches the upstream with tokengate's headers, spoofed ones replaced", func(t *testing.T) {
		before := e.up.count()
		r := send(t, e.nginx, "GET", "/orders/1?x=1",
			"Authorization: Bearer good",
			"X-Auth-Subject: admin", "X-Auth-Client-Id: evil-app", "X-Auth-Scope: orders.write",
			"X-Original-URI: /elsewhere", "X-Original-Method: DELETE")
		if r.status != 200 || r.body != "upstream ok" {
			t.Fatalf("status %d body %q, want 200 from the upstream", r.status, r.body)
		}
		if e.up.count() != before+1 {
			t.Fatalf("upstream reached %d times, want once", e.up.count()-before)
		}
		seen := e.up.last()
		if got := seen.Header.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "user-1" {
			t.Errorf("upstream X-Auth-Subject %q, want exactly [user-1] (the client sent admin)", got)
		}
		if got := seen.Header.Values("X-Auth-Scope"); len(got) != 1 || got[0] != "orders.read" {
			t.Errorf("upstream X-Auth-Scope %q, want exactly [orders.read]", got)
		}
		// The token has no client_id: the client's copy is dropped, not passed.
		if got := seen.Header.Values("X-Auth-Client-Id"); len(got) != 0 {
			t.Errorf("upstream X-Auth-Client-Id %q, want none (claim absent, client copy dropped)", got)
		}
		if seen.RequestURI != "/orders/1?x=1" || seen.Host != host {
			t.Errorf("upstream got %s %q host %q", seen.Method, seen.RequestURI, seen.Host)
		}
		if seen.Header.Get("Authorization") != "Bearer good" {
			t.Errorf("upstream Authorization %q", seen.Header.Get("Authorization"))
		}
	})

	t.Run("no token is 401 with the bare challenge", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 401, `Bearer realm="`+realm+`"`, "unauthorized", true)
		e.deny(t, "GET", "/orders/1", 401, `Bearer realm="`+realm+`"`, "unauthorized", true, "Authorization: Basic dXNlcjpwdw==")
	})

	t.Run("token without the scope is 403 insufficient_scope", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 403,
			`Bearer realm="`+realm+`", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read"`,
			"insufficient_scope", true, "Authorization: Bearer reader", "X-Auth-Subject: admin")
	})

	t.Run("inactive token is 401 invalid_token", func(t *testing.T) {
		r := e.deny(t, "GET", "/orders/1", 401,
			`Bearer realm="`+realm+`", error="invalid_token", error_description="the token is not active"`,
			"invalid_token", true, "Authorization: Bearer revoked")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("challenge %q", r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("no route is 403 without a challenge, whatever X-Original-URI the client sends", func(t *testing.T) {
		e.deny(t, "GET", "/admin", 403, "", "access_denied", true, "Authorization: Bearer good")
		e.deny(t, "GET", "/admin", 403, "", "access_denied", false, "Authorization: Bearer good",
			"X-Original-URI: /orders/1", "X-Original-Method: GET")
		e.deny(t, "DELETE", "/orders/1", 403, "", "access_denied", true, "Authorization: Bearer good")
	})

	// nginx normalizes the URI ($uri) before it picks a location and runs
	// auth_request, but the configuration hands tokengate $request_uri, the
	// target exactly as the client sent it, which is also what proxy_pass
	// (without a URI part) forwards to the upstream. tokengate refuses dot
	// segments and encoded slashes with 400, and nginx.conf turns
	// auth_request's 500 back into that 400. So a traversal never reaches
	// the upstream, even one that normalizes into the protected prefix with a
	// valid token (/admin/../orders/1): refused rather than guessed at.
	t.Run("path traversal is refused before the upstream", func(t *testing.T) {
		for _, target := range []string{
			"/orders/../admin",
			"/orders/%2e%2e/admin",
			"/orders/%2E%2E/admin?x=1",
			"/orders/..%2Fadmin",
			"/orders/./1",
			"/orders%2F1",
			"/admin/../orders/1",
		} {
			for _, auth := range []string{"Authorization: Bearer good", "Authorization: Bearer reader"} {
				e.deny(t, "GET", target, 400, "", "invalid_request", true, auth)
			}
			e.deny(t, "GET", target, 400, "", "invalid_request", true)
		}
	})

	// Spellings without dot segments or encoded slashes read the same to
	// nginx and tokengate: both merge repeated slashes and decode
	// percent-encoded unreserved characters. They are judged as /orders/1,
	// and the upstream receives them as the client sent them.
	t.Run("merged slashes and encoded letters are judged as nginx reads them", func(t *testing.T) {
		for _, target := range []string{"//orders/1", "/orders//1", "/%6Frders/1"} {
			e.deny(t, "GET", target, 401, `Bearer realm="`+realm+`"`, "unauthorized", true)
			e.deny(t, "GET", target, 403,
				`Bearer realm="`+realm+`", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders.read"`,
				"insufficient_scope", true, "Authorization: Bearer reader")
			r := send(t, e.nginx, "GET", target, "Authorization: Bearer good", "X-Auth-Subject: admin")
			if r.status != 200 || r.body != "upstream ok" {
				t.Fatalf("GET %s: status %d body %q, want 200 from the upstream", target, r.status, r.body)
			}
			if seen := e.up.last(); seen.RequestURI != target || seen.Header.Get("X-Auth-Subject") != "user-1" {
				t.Errorf("GET %s: upstream got %q with X-Auth-Subject %q", target, seen.RequestURI, seen.Header.Values("X-Auth-Subject"))
			}
		}
	})

	t.Run("malformed bearer is 400 invalid_request with its challenge", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 400, `Bearer realm="`+realm+`", error="invalid_request", error_description="the bearer token is malformed"`,
			"invalid_request", true, "Authorization: Bearer a,b")
	})

	t.Run("authorization server failing is 503", func(t *testing.T) {
		e.deny(t, "GET", "/orders/1", 503, "", "temporarily_unavailable", true, "Authorization: Bearer broken")
	})

	// Last: it stops tokengate.
	t.Run("tokengate unreachable is 503, never the upstream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("stopping tokengate: %v", err)
		}
		e.deny(t, "GET", "/orders/1", 503, "", "temporarily_unavailable", false, "Authorization: Bearer good")
	})
	t.Logf("all scenarios in %v", time.Since(start).Round(time.Millisecond))
}
