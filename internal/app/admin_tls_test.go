package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// Issue 12, item 10: the admin listener over TLS and mTLS (admin.tls),
// with its certificates re-read on reload like the other listeners'.

const testAdminToken = "admin-token-0123456789abcdefghijklmnop" // >= 32 characters

// configWithAdmin is testConfig with an admin section on 127.0.0.1:0;
// tlsBlock is a tlsYAML block or "".
func configWithAdmin(asURL, tlsBlock string) string {
	return testConfig(asURL) + fmt.Sprintf("admin:\n  address: \"127.0.0.1:0\"\n  token: %q\n", testAdminToken) + tlsBlock
}

// adminRevoke posts a revocation to the admin listener with client and
// returns the status and body.
func adminRevoke(t *testing.T, client *http.Client, url, token string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/revoke", strings.NewReader(`{"tenant":"acme","sub":"user-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

func httpsClientWith(ca *testsupport.CA, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), Certificates: certs},
		DisableKeepAlives: true,
	}}
}

func TestAdminOverTLS(t *testing.T) {
	as := introspectiontest.New(t)
	ca := testsupport.NewCA(t, "test CA")
	f := writeServerCert(t, t.TempDir(), ca, 100)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithAdmin(as.URL, tlsYAML(f, ""))))
	url := "https://" + h.srv.AdminAddress()

	code, body, err := adminRevoke(t, httpsClient(ca), url, testAdminToken)
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"evicted":0`) {
		t.Fatalf("revoke over TLS: %d %q %v", code, body, err)
	}
	if code, _, err := adminRevoke(t, httpsClient(ca), url, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("revoke over TLS without the token: %d %v", code, err)
	}
	// Plain HTTP to the port: the token never travels in the clear to a
	// listener that would accept it.
	plain := &http.Client{Timeout: 5 * time.Second}
	if code, _, err := adminRevoke(t, plain, "http://"+h.srv.AdminAddress(), testAdminToken); err == nil && code == http.StatusOK {
		t.Fatal("plain HTTP to the admin TLS port was served")
	}
	if _, err := handshakeSerial(h.srv.AdminAddress(), &tls.Config{
		RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

func TestAdminMutualTLS(t *testing.T) {
	as := introspectiontest.New(t)
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	f := writeServerCert(t, dir, ca, 100)
	caFile := filepath.Join(dir, "clients.pem")
	tlsWriteFile(t, caFile, ca.CertPEM)
	h := startHarnessAt(t, testsupport.WriteConfig(t, configWithAdmin(as.URL, tlsYAML(f, caFile))))
	url := "https://" + h.srv.AdminAddress()

	if code, _, err := adminRevoke(t, httpsClient(ca), url, testAdminToken); err == nil {
		t.Fatalf("a client without a certificate got an answer: %d", code)
	}
	other := testsupport.NewCA(t, "other CA")
	if code, _, err := adminRevoke(t, httpsClientWith(ca, other.KeyPair(t, 7, "mallory", false)), url, testAdminToken); err == nil {
		t.Fatalf("a client certificate from another CA got an answer: %d", code)
	}
	good := httpsClientWith(ca, ca.KeyPair(t, 7, "operator", false))
	if code, body, err := adminRevoke(t, good, url, testAdminToken); err != nil || code != http.StatusOK {
		t.Fatalf("client certificate from the CA: %d %q %v", code, body, err)
	}
	// mTLS does not replace the token.
	if code, _, err := adminRevoke(t, good, url, "wrong-token-0123456789abcdefghijklmnop"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("mTLS client with a wrong token: %d %v", code, err)
	}
}

// TestAdminReloadRereadsCertificate: a reload with the same admin section
// picks up new contents of its certificate files; a reload that changes
// the section (here: its file paths) takes a restart and changes nothing.
func TestAdminReloadRereadsCertificate(t *testing.T) {
	as := introspectiontest.New(t)
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	f := writeServerCert(t, dir, ca, 100)
	path := testsupport.WriteConfig(t, configWithAdmin(as.URL, tlsYAML(f, "")))
	h := startHarnessAt(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serial := func(when string, want int64) {
		t.Helper()
		got, err := handshakeSerial(h.srv.AdminAddress(), &tls.Config{RootCAs: ca.Pool()})
		if err != nil || got != want {
			t.Fatalf("%s: admin certificate serial %d (%v), want %d", when, got, err, want)
		}
	}
	serial("at start", 100)

	writeServerCert(t, dir, ca, 200) // same paths, new contents
	if err := h.srv.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	serial("after reload", 200)
	if code, _, err := adminRevoke(t, httpsClient(ca), "https://"+h.srv.AdminAddress(), testAdminToken); err != nil || code != http.StatusOK {
		t.Fatalf("revoke after reload: %d %v", code, err)
	}

	// A certificate file gone bad fails the reload; the last good one stays.
	tlsWriteFile(t, f.cert, []byte("-----BEGIN CERTIFICATE-----\nbad\n-----END CERTIFICATE-----\n"))
	if err := h.srv.Reload(ctx); err == nil || !strings.Contains(err.Error(), "admin.tls") {
		t.Fatalf("Reload with a bad admin certificate: %v", err)
	}
	serial("after a failed reload", 200)

	// Other file paths: the section changed, which takes a restart.
	g := writeServerCert(t, t.TempDir(), ca, 300)
	tlsWriteFile(t, path, []byte(configWithAdmin(as.URL, tlsYAML(g, ""))))
	if err := h.srv.Reload(ctx); err == nil || !strings.Contains(err.Error(), "admin: changing this section takes a restart") {
		t.Fatalf("Reload with other admin.tls files: %v", err)
	}
	serial("after a refused reload", 200)
}
