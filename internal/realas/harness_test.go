// Package realas runs tokengate end to end against a real OAuth 2.0
// authorization server: panva's oidc-provider (server/server.mjs), started
// as a Node.js subprocess on a free loopback port. Tokens are obtained with
// client credentials at its token endpoint and revoked at its revocation
// endpoint; tokengate, started in-process, introspects them there.
//
// Node.js is required: without it, or without server/node_modules (`make
// test` runs `npm ci` first), the tests fail rather than skip, so a CI
// machine without Node cannot pass by testing nothing.
package realas

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"
)

// Clients and secrets configured in server/server.mjs.
const (
	appClient, appSecret           = "app", "app-secret"
	shortClient, shortSecret       = "app-short", "app-short-secret" // tokens live shortTTL
	basicClient, basicSecret       = "rs:basic", "b:s%2B+&=/ ~secret"
	postClient, postSecret         = "rs-post", "p:s%2B+&=/ ~secret"
	jwtRespClient, jwtRespSecret   = "rs-jwtresp", "jwtresp-secret"
	noneClient                     = "rs-none"
	privateKeyJWTClient            = "rs-jwt"
	shortTTL                       = 3 * time.Second
	rsaKeyID                       = "tokengate-test-rsa"
	startTimeout, requestTimeout   = 30 * time.Second, 5 * time.Second
	stopTimeout                    = 5 * time.Second
	readyPrefix                    = "REALAS_READY "
	nodeMissing                    = "node is required for the real authorization server tests; install Node.js/npm"
	nodeModulesMissing             = "run `npm ci` in internal/realas/server (make test does it)"
	defaultAudience, otherAudience = "api://orders", "api://billing"
)

// provider is the running authorization server and what the tests need
// to know about it.
type provider struct {
	Issuer        string
	Token         string // token_endpoint
	Introspection string // introspection_endpoint
	Revocation    string // revocation_endpoint
	JWKS          string // jwks_uri
	Discovery     map[string]any

	// Private keys whose public halves the rs-jwt client has, as PEM files.
	RSAKeyFile string // PKCS#8, kid rsaKeyID
	ECKeyFile  string // SEC1 (P-256), no kid

	// Mutual TLS (RFC 8705, sender_harness_test.go): the token endpoint on
	// the HTTPS listener, and the certificates the test made for it.
	MTLSToken string
	mtls      *mtlsSetup

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *testlog.Buffer
	dir    string
	done   chan struct{}
}

var (
	shared     *provider
	sharedErr  error
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

// realAS returns the package's authorization server, starting it on first
// use. Every test shares it: tokens and clients do not interfere.
func realAS(t *testing.T) *provider {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startProvider(t) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out := shared.stderr.String()
			if len(out) > 4096 {
				out = "..." + out[len(out)-4096:]
			}
			t.Logf("authorization server stderr (%s):\n%s", shared.Issuer, out)
		}
	})
	return shared
}

func serverDir() (string, error) {
	wd, err := os.Getwd() // go test runs in the package's directory
	if err != nil {
		return "", err
	}
	return filepath.Join(wd, "server"), nil
}

// providerOptions changes how startProviderWith starts a server.
type providerOptions struct {
	port        int            // REALAS_PORT; 0: a free port
	signingKeys []signingKey   // the setup's signing_keys; none: the server makes one
	extraSetup  map[string]any // more members of the setup file (e.g. backchannel_client)
}

// signingKey is one of the provider's signing keys: an RSA private key in a
// PEM file, published under kid.
type signingKey struct {
	kid  string
	file string
}

// startProvider starts the server; t is the first test to need it (its
// helpers make the throwaway certificates, see newMTLSSetup).
func startProvider(t testing.TB) (p *provider, err error) {
	return startProviderWith(t, providerOptions{})
}

// startProviderWith starts a server with opts; the caller stops it.
func startProviderWith(t testing.TB, opts providerOptions) (p *provider, err error) {
	node, lookErr := exec.LookPath("node")
	if lookErr != nil {
		return nil, fmt.Errorf("%s (%v)", nodeMissing, lookErr)
	}
	dir, err := serverDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return nil, fmt.Errorf("oidc-provider is not installed: %s", nodeModulesMissing)
	}

	tmp, err := os.MkdirTemp("", "tokengate-realas-")
	if err != nil {
		return nil, err
	}
	p = &provider{dir: tmp, stderr: &testlog.Buffer{}, done: make(chan struct{})}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	setup, err := p.writeKeys(t, opts.signingKeys)
	if err != nil {
		return nil, err
	}
	if len(opts.extraSetup) > 0 {
		if err := addToSetup(setup, opts.extraSetup); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	p.cmd = exec.Command(node, "server.mjs")
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("REALAS_PORT=%d", opts.port), "REALAS_CONFIG="+setup, "REALAS_EXIT_ON_STDIN_EOF=1", "NODE_ENV=test")
	p.cmd.Stderr = p.stderr
	setProcessGroup(p.cmd)
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s server.mjs: %w", node, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait(); close(p.done) }()

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, readyPrefix) {
				select {
				case ready <- strings.TrimPrefix(line, readyPrefix):
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-ready:
	case err := <-exited:
		return nil, fmt.Errorf("the authorization server exited before it was ready (%v); its stderr:\n%s", err, p.stderr)
	case <-ctx.Done():
		return nil, fmt.Errorf("the authorization server printed no %q line within %s; its stderr:\n%s", readyPrefix, startTimeout, p.stderr)
	}
	var hello struct {
		Issuer   string `json:"issuer"`
		Port     int    `json:"port"`
		MTLSPort int    `json:"mtls_port"`
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Issuer == "" || hello.MTLSPort == 0 {
		return nil, fmt.Errorf("ready line %q (issuer and mtls_port wanted): %v", line, err)
	}
	p.Issuer = hello.Issuer
	if err := p.discover(ctx); err != nil {
		return nil, fmt.Errorf("%w; its stderr:\n%s", err, p.stderr)
	}
	if p.MTLSToken, err = mtlsAlias(p.Token, hello.MTLSPort); err != nil {
		return nil, err
	}
	return p, nil
}

// discover polls the discovery document until the server answers it.
func (p *provider) discover(ctx context.Context) error {
	var last error
	for {
		doc, err := p.fetchDiscovery(ctx)
		if err == nil {
			p.Discovery = doc
			str := func(k string) string { s, _ := doc[k].(string); return s }
			p.Token, p.Introspection, p.Revocation, p.JWKS = str("token_endpoint"), str("introspection_endpoint"), str("revocation_endpoint"), str("jwks_uri")
			if str("issuer") != p.Issuer || p.Token == "" || p.Introspection == "" || p.Revocation == "" || p.JWKS == "" {
				return fmt.Errorf("discovery document lacks an endpoint or names issuer %q, not %q", str("issuer"), p.Issuer)
			}
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("discovery at %s: %v", p.Issuer, last)
		case <-p.done:
			return fmt.Errorf("the authorization server exited; last discovery error: %v", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *provider) fetchDiscovery(ctx context.Context) (map[string]any, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, p.Issuer+"/.well-known/openid-configuration", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc map[string]any
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// stop ends the server: SIGTERM to its process group, then SIGKILL.
func (p *provider) stop() {
	running := p.cmd != nil && p.cmd.Process != nil
	if running {
		if p.stdin != nil {
			p.stdin.Close()
		}
		select {
		case <-p.done: // already stopped (and reaped): signal no one
			running = false
		default:
		}
	}
	if running {
		signalGroup(p.cmd, false)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			signalGroup(p.cmd, true)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
			}
		}
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// writeKeyPEM writes the private key marshal encodes to path, a PEM block
// of type typ.
func writeKeyPEM(path, typ string, marshal func() ([]byte, error)) error {
	der, err := marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// writeKeys makes the rs-jwt client's keys: an RSA key (PKCS#8, with a
// kid) and a P-256 key (SEC1, without one). The private halves go to PEM
// files for tokengate, the public JWKS to the server's setup file, with
// the provider's own signing keys when there are any.
func (p *provider) writeKeys(t testing.TB, signing []signingKey) (setupFile string, err error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	p.RSAKeyFile = filepath.Join(p.dir, "rs-jwt-rsa.pem")
	if err := writeKeyPEM(p.RSAKeyFile, "PRIVATE KEY", func() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(rsaKey) }); err != nil {
		return "", err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	p.ECKeyFile = filepath.Join(p.dir, "rs-jwt-ec.pem")
	if err := writeKeyPEM(p.ECKeyFile, "EC PRIVATE KEY", func() ([]byte, error) { return x509.MarshalECPrivateKey(ecKey) }); err != nil {
		return "", err
	}
	setup := map[string]any{"rs_jwt_jwks": map[string]any{"keys": []any{
		rsaJWK(&rsaKey.PublicKey, rsaKeyID),
		ecJWK(&ecKey.PublicKey),
	}}}
	if p.mtls, err = newMTLSSetup(t, p.dir, setup); err != nil {
		return "", err
	}
	if len(signing) > 0 {
		keys := make([]map[string]string, len(signing))
		for i, k := range signing {
			keys[i] = map[string]string{"kid": k.kid, "file": k.file}
		}
		setup["signing_keys"] = keys
	}
	body, _ := json.Marshal(setup)
	setupFile = filepath.Join(p.dir, "setup.json")
	return setupFile, os.WriteFile(setupFile, body, 0o600)
}

// addToSetup adds members to the setup file at path.
func addToSetup(path string, members map[string]any) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	setup := map[string]any{}
	if err := json.Unmarshal(body, &setup); err != nil {
		return err
	}
	for k, v := range members {
		setup[k] = v
	}
	if body, err = json.Marshal(setup); err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o600)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(k *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(k *ecdsa.PublicKey) map[string]any {
	raw, _ := k.Bytes() // uncompressed point: 0x04 || X || Y
	size := (len(raw) - 1) / 2
	return map[string]any{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
		"x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
}
