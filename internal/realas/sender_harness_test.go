package realas

// The client side of sender-constrained tokens against the real server:
// tokens for DPoP proofs (RFC 9449, made by extauthz/dpop/dpoptest) at the
// token endpoint, and the certificates of mutual TLS (RFC 8705) with the
// HTTPS listener of server/server.mjs.

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/testsupport"
)

const (
	dpopClient, dpopSecret = "app-dpop", "app-dpop-secret" // every token DPoP-bound
	mtlsClient             = "app-mtls"                    // self_signed_tls_client_auth, certificate-bound tokens
	mtlsRegistered         = 2                             // certificates app-mtls has registered
)

// mtlsSetup is what the test made for the mutual TLS listener: its server
// certificate, and client certificates, the first mtlsRegistered of which
// app-mtls has registered (x5c in its jwks); the last one no client has.
type mtlsSetup struct {
	roots   *x509.CertPool
	clients []tls.Certificate
}

// registered is app-mtls's i-th certificate; stranger is one no client has.
func (m *mtlsSetup) registered(i int) tls.Certificate { return m.clients[i] }
func (m *mtlsSetup) stranger() tls.Certificate        { return m.clients[mtlsRegistered] }

// newMTLSSetup makes the certificates (issued by a throwaway CA: the
// server trusts any client certificate at the TLS layer, and app-mtls
// matches its own by thumbprint, RFC 8705 §2.2), writes the server's to
// dir and adds the "tls" and "mtls_jwks" members of the server's setup file
// (see server/server.mjs).
func newMTLSSetup(t testing.TB, dir string, setup map[string]any) (*mtlsSetup, error) {
	ca := testsupport.NewCA(t, "realas test CA")
	certPEM, keyPEM := ca.Issue(t, 2, "realas mtls listener", true)
	certFile, keyFile := filepath.Join(dir, "mtls-server.pem"), filepath.Join(dir, "mtls-server-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	m := &mtlsSetup{roots: ca.Pool()}
	var keys []any
	for i := range mtlsRegistered + 1 {
		c := ca.KeyPair(t, int64(10+i), fmt.Sprintf("%s certificate %d", mtlsClient, i+1), false)
		m.clients = append(m.clients, c)
		if i < mtlsRegistered {
			jwk := ecJWK(&c.PrivateKey.(*ecdsa.PrivateKey).PublicKey)
			jwk["x5c"] = []string{base64.StdEncoding.EncodeToString(c.Certificate[0])}
			keys = append(keys, jwk)
		}
	}
	setup["tls"] = map[string]any{"cert_file": certFile, "key_file": keyFile}
	setup["mtls_jwks"] = map[string]any{"keys": keys}
	return m, nil
}

// mtlsAlias is endpoint on the mutual TLS listener (oidc-provider 8 has no
// mtls_endpoint_aliases metadata; the path is the same on both listeners).
func mtlsAlias(endpoint string, port int) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("token endpoint %q: %v", endpoint, err)
	}
	u.Scheme, u.Host = "https", fmt.Sprintf("127.0.0.1:%d", port)
	return u.String(), nil
}

// mtlsHTTPClient speaks to the mutual TLS listener, presenting certs (none:
// a TLS connection without a client certificate).
func (p *provider) mtlsHTTPClient(t *testing.T, certs ...tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.mtls.roots, Certificates: certs, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// tokenRequest asks endpoint for a client-credentials token for
// api://orders with orders.read, through hc with header; it returns the
// status and the body.
func tokenRequest(t *testing.T, hc *http.Client, endpoint string, form url.Values, header http.Header) (int, []byte) {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	form.Set("resource", defaultAudience)
	form.Set("scope", "orders.read")
	status, _, body := postForm(t, hc, endpoint, form, header)
	return status, body
}

// issuedToken reads a 200 token response and remembers its token.
func issuedToken(t *testing.T, status int, body []byte, wantType string) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token response %s: %v", body, err)
	}
	remember(tr.AccessToken)
	if tr.TokenType != wantType || tr.Scope != "orders.read" {
		t.Fatalf("token response %s: want token_type %q, scope orders.read", body, wantType)
	}
	return tr
}

// getMTLSToken obtains a token for app-mtls over mutual TLS with cert: the
// client authenticates with it (self_signed_tls_client_auth) and the token
// is bound to it.
func (p *provider) getMTLSToken(t *testing.T, cert tls.Certificate) tokenResponse {
	t.Helper()
	status, body := tokenRequest(t, p.mtlsHTTPClient(t, cert), p.MTLSToken, url.Values{"client_id": {mtlsClient}}, nil)
	return issuedToken(t, status, body, "Bearer")
}

// getDPoPToken obtains a DPoP-bound token with a proof of key for the
// token endpoint (no ath: there is no token yet), as client; it returns the
// token and that proof. (The proof's ath, of the empty string, is not
// checked at the token endpoint.)
func (p *provider) getDPoPToken(t *testing.T, key *dpoptest.Key, client, secret string) (tokenResponse, string) {
	t.Helper()
	proof := key.Proof(t, http.MethodPost, p.Token, "")
	header := http.Header{"Dpop": {proof}, "Authorization": {basicAuth(client, secret)}}
	status, body := tokenRequest(t, http.DefaultClient, p.Token, url.Values{}, header)
	return issuedToken(t, status, body, "DPoP"), proof
}

// basicAuth is RFC 6749 §2.3.1 HTTP Basic: each half form-url-encoded.
func basicAuth(client, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(client)+":"+url.QueryEscape(secret)))
}
