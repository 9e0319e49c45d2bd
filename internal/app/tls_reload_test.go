package app

// Reloading the listeners' certificates and client CAs.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// TestReloadReplacesCertificates: after the certificate files are
// replaced, Reload makes new connections (gRPC and HTTP) see the new
// certificate; an invalid certificate file fails the reload and the last
// good certificate keeps being served.
func TestReloadReplacesCertificates(t *testing.T) {
	as := newGoodAS(t)
	ca, dir, f := serverCert(t)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithTLS(t, as.URL, tlsYAML(f, ""), tlsYAML(f, ""))))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	serials := func(when string, want int64) {
		t.Helper()
		if got, err := tlsCheck(dialTLS(t, h, &tls.Config{RootCAs: ca.Pool()})); err != nil || got != want {
			t.Fatalf("%s: gRPC serial %d (%v), want %d", when, got, err, want)
		}
		resp, err := httpsClient(ca).Get("https://" + h.srv.HTTPAddress() + "/healthz")
		if err != nil {
			t.Fatalf("%s: https: %v", when, err)
		}
		resp.Body.Close()
		if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != want {
			t.Fatalf("%s: HTTP serial %d, want %d", when, got, want)
		}
	}
	serials("before reload", 100)
	// An existing connection is not affected by a reload.
	kept := dialTLS(t, h, &tls.Config{RootCAs: ca.Pool()})
	if got, err := tlsCheck(kept); err != nil || got != 100 {
		t.Fatalf("kept connection: %d %v", got, err)
	}

	writeServerCert(t, dir, ca, 200)
	if err := h.srv.Reload(ctx); err != nil {
		t.Fatalf("Reload with a new certificate: %v", err)
	}
	serials("after reload", 200)
	if got, err := tlsCheck(kept); err != nil || got != 100 {
		t.Fatalf("connection from before the reload: %d %v", got, err)
	}

	tlsWriteFile(t, f.cert, []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"))
	if err := h.srv.Reload(ctx); err == nil {
		t.Fatal("Reload accepted an invalid certificate file")
	}
	serials("after a failed reload", 200)
	if !strings.Contains(h.logs.String(), "config reload failed") {
		t.Errorf("failed reload not logged:\n%s", h.logs.String())
	}
}

// TestReloadMovesToNewFilesAndClientCA: a reload may name other files,
// including another client CA: clients of the old CA are refused from then
// on, clients of the new one accepted.
func TestReloadMovesToNewFilesAndClientCA(t *testing.T) {
	as := newGoodAS(t)
	ca, ca2 := testsupport.NewCA(t, "CA one"), testsupport.NewCA(t, "CA two")
	dir1, dir2 := t.TempDir(), t.TempDir()
	f1, f2 := writeServerCert(t, dir1, ca, 100), writeServerCert(t, dir2, ca2, 300)
	ca1File, ca2File := filepath.Join(dir1, "clients.pem"), filepath.Join(dir2, "clients.pem")
	tlsWriteFile(t, ca1File, ca.CertPEM)
	tlsWriteFile(t, ca2File, ca2.CertPEM)
	path := testsupport.WriteConfig(t, configWithTLS(t, as.URL, tlsYAML(f1, ca1File), ""))
	h := startHarnessAt(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	both := x509.NewCertPool()
	both.AddCert(ca.Cert)
	both.AddCert(ca2.Cert)
	client1 := &tls.Config{RootCAs: both, Certificates: []tls.Certificate{ca.KeyPair(t, 7, "envoy-1", false)}}
	client2 := &tls.Config{RootCAs: both, Certificates: []tls.Certificate{ca2.KeyPair(t, 7, "envoy-2", false)}}
	if got, err := tlsCheck(dialTLS(t, h, client1)); err != nil || got != 100 {
		t.Fatalf("before reload, client of CA one: %d %v", got, err)
	}
	tlsRefused(t, dialTLS(t, h, client2), "before reload, client of CA two")

	tlsWriteFile(t, path, []byte(configWithTLS(t, as.URL, tlsYAML(f2, ca2File), "")))
	if err := h.srv.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, err := tlsCheck(dialTLS(t, h, client2)); err != nil || got != 300 {
		t.Fatalf("after reload, client of CA two: %d %v", got, err)
	}
	tlsRefused(t, dialTLS(t, h, client1), "after reload, client of CA one")

	// Dropping client_ca_file turns mTLS off: a client without a
	// certificate gets through.
	tlsWriteFile(t, path, []byte(configWithTLS(t, as.URL, tlsYAML(f2, ""), "")))
	if err := h.srv.Reload(ctx); err != nil {
		t.Fatalf("Reload without client_ca_file: %v", err)
	}
	if _, err := tlsCheck(dialTLS(t, h, &tls.Config{RootCAs: both})); err != nil {
		t.Fatalf("after dropping client_ca_file, client without a certificate: %v", err)
	}
}

// TestReloadCannotToggleTLS: turning a listener's TLS on or off takes a
// restart, so such a reload fails as a whole and the old one stays.
func TestReloadCannotToggleTLS(t *testing.T) {
	as := newGoodAS(t)
	ca, _, f := serverCert(t)
	path := testsupport.WriteConfig(t, configWithTLS(t, as.URL, tlsYAML(f, ""), ""))
	h := startHarnessAt(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, c := range []struct{ name, cfg, want string }{
		{"grpc off", configWithTLS(t, as.URL, "", ""), "grpc.tls: turning TLS off takes a restart"},
		{"http on", configWithTLS(t, as.URL, tlsYAML(f, ""), tlsYAML(f, "")), "http.tls: turning TLS on takes a restart"},
	} {
		tlsWriteFile(t, path, []byte(c.cfg))
		err := h.srv.Reload(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: Reload: %v", c.name, err)
		}
	}
	if got, err := tlsCheck(dialTLS(t, h, &tls.Config{RootCAs: ca.Pool()})); err != nil || got != 100 {
		t.Fatalf("after failed reloads: %d %v", got, err)
	}
}

// TestCertReloaderKeepsStateOnBadFiles: the reloader's own error path
// (files that vanish or go bad between config validation and loading):
// nothing is published, and the errors name the section, not the contents.
func TestCertReloaderKeepsStateOnBadFiles(t *testing.T) {
	_, dir, f := serverCert(t)
	good := &config.Config{GRPC: config.GRPC{TLS: &config.TLS{CertFile: f.cert, KeyFile: f.key}}}
	l, err := newTLSListeners(good)
	if err != nil {
		t.Fatal(err)
	}
	before := l.grpc.current()
	noPEM := filepath.Join(dir, "empty.pem")
	tlsWriteFile(t, noPEM, []byte("secret-looking contents\n"))
	for name, tc := range map[string]*config.TLS{
		"missing cert":  {CertFile: filepath.Join(dir, "nope.crt"), KeyFile: f.key},
		"not a pair":    {CertFile: f.cert, KeyFile: noPEM},
		"missing CA":    {CertFile: f.cert, KeyFile: f.key, ClientCAFile: filepath.Join(dir, "nope.pem")},
		"CA has no PEM": {CertFile: f.cert, KeyFile: f.key, ClientCAFile: noPEM},
	} {
		_, err := l.load(&config.Config{GRPC: config.GRPC{TLS: tc}})
		if err == nil || !strings.HasPrefix(err.Error(), "grpc.tls: ") || strings.Contains(err.Error(), "secret-looking") {
			t.Errorf("%s: %v", name, err)
		}
		if l.grpc.current() != before {
			t.Errorf("%s: state changed", name)
		}
	}
}

// TestCertReloadDuringHandshakes: handshakes running while Reload swaps
// certificates each see one whole certificate, old or new (run with -race).
func TestCertReloadDuringHandshakes(t *testing.T) {
	as := introspectiontest.New(t)
	ca, dir, f := serverCert(t)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithTLS(t, as.URL, "", tlsYAML(f, ""))))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const reloads, dialers, dials = 5, 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, dialers*dials)
	for range dialers {
		wg.Go(func() {
			for range dials {
				s, err := handshakeSerial(h.srv.HTTPAddress(), &tls.Config{RootCAs: ca.Pool()})
				if err == nil && (s < 100 || s > 100+reloads) {
					err = fmt.Errorf("unexpected serial %d", s)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := int64(1); i <= reloads; i++ {
		writeServerCert(t, dir, ca, 100+i)
		if err := h.srv.Reload(ctx); err != nil {
			t.Errorf("Reload %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s, err := handshakeSerial(h.srv.HTTPAddress(), &tls.Config{RootCAs: ca.Pool()}); err != nil || s != 100+reloads {
		t.Fatalf("after the reloads: %d %v", s, err)
	}
}

// TestMutualTLSSessionsDoNotOutliveTheClientCA: a client that holds a TLS
// session ticket from before a reload cannot resume it to skip the check
// of its certificate against the new client CA pool.
func TestMutualTLSSessionsDoNotOutliveTheClientCA(t *testing.T) {
	ca, ca2 := testsupport.NewCA(t, "CA one"), testsupport.NewCA(t, "CA two")
	dir := t.TempDir()
	f := writeServerCert(t, dir, ca, 100)
	ca1File, ca2File := filepath.Join(dir, "ca1.pem"), filepath.Join(dir, "ca2.pem")
	tlsWriteFile(t, ca1File, ca.CertPEM)
	tlsWriteFile(t, ca2File, ca2.CertPEM)
	r, err := newCertReloader("grpc.tls", &config.TLS{CertFile: f.cert, KeyFile: f.key, ClientCAFile: ca1File})
	if err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tln := tls.NewListener(ln, r.serverConfig())
	go func() { // answer "ok" on every connection that completes a handshake
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("ok"))
				}
			}()
		}
	}()
	client := &tls.Config{
		RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.KeyPair(t, 7, "envoy", false)},
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	talk := func() (resumed bool, err error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: client}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return false, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil { // also receives a TLS 1.3 ticket, if any
			return false, err
		}
		return c.(*tls.Conn).ConnectionState().DidResume, nil
	}
	if _, err := talk(); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	if resumed, err := talk(); err != nil || !resumed {
		t.Fatalf("before the reload, a second connection did not resume its session: %v %v", resumed, err)
	}
	st, err := r.load(&config.TLS{CertFile: f.cert, KeyFile: f.key, ClientCAFile: ca2File})
	if err != nil {
		t.Fatal(err)
	}
	r.store(st)
	if resumed, err := talk(); err == nil {
		t.Fatalf("a client of the removed CA got through (resumed: %v)", resumed)
	}
}
