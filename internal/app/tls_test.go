package app

// The listeners over TLS and mutual TLS (grpc.tls, http.tls), and the
// helpers the TLS tests share (tls_reload_test.go, admin_tls_test.go).

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

func tlsWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles are a server certificate's files in a temporary directory.
type tlsFiles struct{ dir, cert, key string }

func writeServerCert(t *testing.T, dir string, ca *testsupport.CA, serial int64) tlsFiles {
	t.Helper()
	f := tlsFiles{dir: dir, cert: filepath.Join(dir, "server.crt"), key: filepath.Join(dir, "server.key")}
	certPEM, keyPEM := ca.Issue(t, serial, fmt.Sprintf("tokengate-%d", serial), true)
	tlsWriteFile(t, f.cert, certPEM)
	tlsWriteFile(t, f.key, keyPEM)
	return f
}

// tlsYAML is a flow-style tls block; clientCA may be "".
func tlsYAML(f tlsFiles, clientCA string) string {
	s := fmt.Sprintf("  tls: {cert_file: %q, key_file: %q", f.cert, f.key)
	if clientCA != "" {
		s += fmt.Sprintf(", client_ca_file: %q", clientCA)
	}
	return s + "}\n"
}

// configWithTLS is testConfig with grpcTLS and httpTLS (tls blocks from
// tlsYAML, or "") added to the listener sections.
func configWithTLS(t *testing.T, asURL, grpcTLS, httpTLS string) string {
	t.Helper()
	cfg := testConfig(asURL)
	for _, x := range []struct{ section, block string }{{"grpc", grpcTLS}, {"http", httpTLS}} {
		anchor := x.section + ":\n  address: \"127.0.0.1:0\"\n"
		if !strings.Contains(cfg, anchor) {
			t.Fatalf("testConfig has no %q", anchor)
		}
		cfg = strings.Replace(cfg, anchor, anchor+x.block, 1)
	}
	return cfg
}

// dialTLS is an ext_authz client over TLS to the harness's gRPC listener.
func dialTLS(t *testing.T, h *harness, tc *tls.Config) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(h.srv.GRPCAddress(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// tlsCheck sends an allowed check over client and returns the server's
// certificate serial; err is the gRPC error, if any.
func tlsCheck(client authv3.AuthorizationClient) (serial int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	resp, err := client.Check(ctx, orders("good").proto(), grpc.Peer(&p))
	if err != nil {
		return 0, err
	}
	if c := resp.GetStatus().GetCode(); c != int32(codes.OK) {
		return 0, fmt.Errorf("check denied: %s", resp.GetStatus().GetMessage())
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return 0, fmt.Errorf("no TLS peer certificate (auth info %T)", p.AuthInfo)
	}
	if v := info.State.Version; v < tls.VersionTLS12 {
		return 0, fmt.Errorf("TLS version %x", v)
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64(), nil
}

// tlsRefused asserts that a check over client fails at the transport.
func tlsRefused(t *testing.T, client authv3.AuthorizationClient, what string) {
	t.Helper()
	_, err := tlsCheck(client)
	if err == nil {
		t.Fatalf("%s: check succeeded", what)
	}
	if c := status.Code(err); c != codes.Unavailable {
		t.Fatalf("%s: want Unavailable, got %v", what, err)
	}
}

// handshakeSerial makes a new TLS connection to addr and returns the
// serial of the certificate the server presented.
func handshakeSerial(addr string, tc *tls.Config) (int64, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: tc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

func httpsClient(ca *testsupport.CA) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool()},
		DisableKeepAlives: true, // every request is a new handshake
	}}
}

// serverCert is a test CA and a server certificate of it (serial 100),
// its files in dir.
func serverCert(t *testing.T) (ca *testsupport.CA, dir string, f tlsFiles) {
	t.Helper()
	ca = testsupport.NewCA(t, "test CA")
	dir = t.TempDir()
	return ca, dir, writeServerCert(t, dir, ca, 100)
}

// TestGRPCOverTLS: grpc.tls serves ext_authz over TLS 1.2+ to a client
// that trusts the CA, and a plaintext client gets nowhere.
func TestGRPCOverTLS(t *testing.T) {
	as := newGoodAS(t)
	ca, _, f := serverCert(t)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithTLS(t, as.URL, tlsYAML(f, ""), "")))

	serial, err := tlsCheck(dialTLS(t, h, &tls.Config{RootCAs: ca.Pool()}))
	if err != nil || serial != 100 {
		t.Fatalf("check over TLS: serial %d, %v", serial, err)
	}
	// The harness's own client speaks plaintext.
	tlsRefused(t, h.client, "plaintext client")
	// Not trusting the CA: refused too.
	tlsRefused(t, dialTLS(t, h, &tls.Config{RootCAs: testsupport.NewCA(t, "other CA").Pool()}), "client without the CA")
	// TLS 1.1 and older are not offered.
	if _, err := handshakeSerial(h.srv.GRPCAddress(), &tls.Config{
		RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, NextProtos: []string{"h2"},
	}); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// TestGRPCMutualTLS: with client_ca_file, only clients presenting a
// certificate signed by that CA get through.
func TestGRPCMutualTLS(t *testing.T) {
	as := newGoodAS(t)
	ca, dir, f := serverCert(t)
	caFile := filepath.Join(dir, "clients.pem")
	tlsWriteFile(t, caFile, ca.CertPEM)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithTLS(t, as.URL, tlsYAML(f, caFile), "")))

	tlsRefused(t, dialTLS(t, h, &tls.Config{RootCAs: ca.Pool()}), "client without a certificate")
	good := dialTLS(t, h, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.KeyPair(t, 7, "envoy", false)}})
	if _, err := tlsCheck(good); err != nil {
		t.Fatalf("client certificate from the CA: %v", err)
	}
	other := testsupport.NewCA(t, "other CA")
	tlsRefused(t, dialTLS(t, h, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{other.KeyPair(t, 7, "mallory", false)}}),
		"client certificate from another CA")
}

// TestHTTPOverTLS: http.tls serves /healthz over HTTPS; plain HTTP to the
// port is not answered with a 200.
func TestHTTPOverTLS(t *testing.T) {
	as := introspectiontest.New(t)
	ca, _, f := serverCert(t)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithTLS(t, as.URL, "", tlsYAML(f, ""))))

	resp, err := httpsClient(ca).Get("https://" + h.srv.HTTPAddress() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 100 {
		t.Fatalf("GET /healthz over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + h.srv.HTTPAddress() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP to the TLS port answered 200")
		}
	}
}
