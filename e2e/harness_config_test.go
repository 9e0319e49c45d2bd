package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// The client credentials of tenant acme. The secret reaches the config
// through ${E2E_ACME_SECRET}; its '%' and the id's ':' check the RFC 6749
// §2.3.1 encoding end to end.
const (
	acmeClientID = "rs:acme"
	acmeSecret   = "s3cret%value-e2e"
)

// acmeEnv is the environment every tokengate of the suite gets.
var acmeEnv = []string{"E2E_ACME_SECRET=" + acmeSecret}

// newAS is a fake authorization server that insists on acme's credentials.
func newAS(t *testing.T) *introspectiontest.Server {
	as := introspectiontest.New(t)
	as.RequireBasicAuth(acmeClientID, acmeSecret)
	return as
}

// serveAcme starts a new fake authorization server (newAS) and a tokengate
// serving c in front of it (c.as is its URL) with acmeEnv and the extra
// serve flags args.
func serveAcme(t *testing.T, c cfg, args ...string) (*introspectiontest.Server, *proc) {
	t.Helper()
	as := newAS(t)
	c.as = as.URL
	return as, startServe(t, c.write(t), serveOpts{env: acmeEnv, args: args})
}

// acmeConfigFile starts a new fake authorization server (newAS) and writes
// the standard configuration in front of it to dir/tokengate.yaml (path),
// dir a new directory.
func acmeConfigFile(t *testing.T) (as *introspectiontest.Server, dir, path string) {
	t.Helper()
	as, dir = newAS(t), t.TempDir()
	return as, dir, writeFile(t, dir, "tokengate.yaml", cfg{as: as.URL}.String())
}

// wantIntrospected fails t unless as was asked about token n times; why
// says why that many.
func wantIntrospected(t *testing.T, as *introspectiontest.Server, token string, n int, why string) {
	t.Helper()
	if got := as.Calls(token); got != n {
		t.Errorf("%s introspected %d times, want %d (%s)", token, got, n, why)
	}
}

// cfg renders the suite's standard configuration.
type cfg struct {
	as        string // the fake authorization server's URL
	downURL   string // tenant "down": an introspection URL nothing listens on
	grpcAddr  string // grpc.address ("" : 127.0.0.1:0)
	httpAddr  string // http.address ("" : 127.0.0.1:0)
	forwarded string // http.forwarded_headers ("": the default)
	timeout   string // acme's introspection timeout ("": 1s)
	// readScopes are the orders-read route's scopes (default orders.read).
	readScopes []string
	grpcTLS    string // YAML flow map for grpc.tls ("": none)
	httpTLS    string // YAML flow map for http.tls ("": none)
	extra      string // top-level YAML appended (redis:, admin:)
	// maxConcurrent is acme's max_concurrent_introspections (0: the default).
	maxConcurrent int
	// sender is acme's sender_constraint, a YAML flow map ("": none).
	sender string
}

func (c cfg) String() string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	scopes := c.readScopes
	if scopes == nil {
		scopes = []string{"orders.read"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "grpc:\n  address: %q\n", or(c.grpcAddr, "127.0.0.1:0"))
	if c.grpcTLS != "" {
		fmt.Fprintf(&b, "  tls: %s\n", c.grpcTLS)
	}
	fmt.Fprintf(&b, "http:\n  address: %q\n", or(c.httpAddr, "127.0.0.1:0"))
	if c.forwarded != "" {
		fmt.Fprintf(&b, "  forwarded_headers: %s\n", c.forwarded)
	}
	if c.httpTLS != "" {
		fmt.Fprintf(&b, "  tls: %s\n", c.httpTLS)
	}
	fmt.Fprintf(&b, `tenants:
  - name: acme
    issuer: "https://idp.acme.example"
    introspection:
      url: "%s/oauth2/introspect"
      client_id: %q
      client_secret: "${E2E_ACME_SECRET}"
      timeout: %s
    audiences: ["api://orders"]
    claims_to_headers:
      sub: x-auth-subject
      client_id: x-auth-client-id
      scope: x-auth-scope
      username: x-auth-username
  - name: down
    introspection:
      url: %q
      client_id: rs-down
      client_secret: unused
      timeout: 1s
    claims_to_headers:
      sub: x-down-subject
routes:
  - name: health
    path_prefix: "/healthz"
    public: true
  - name: orders-read
    tenant: acme
    hosts: ["orders.acme.example"]
    path_prefix: "/orders"
    methods: ["GET", "HEAD"]
    scopes: [%s]
  - name: orders-write
    tenant: acme
    hosts: ["orders.acme.example"]
    path_prefix: "/orders"
    methods: ["POST"]
    scopes: ["orders.read", "orders.write"]
  - name: down-api
    tenant: down
    hosts: ["down.example"]
`, c.as, acmeClientID, or(c.timeout, "1s"), or(c.downURL, "http://127.0.0.1:9/introspect"), quoteList(scopes))
	out := b.String()
	if c.maxConcurrent > 0 {
		out = strings.Replace(out, "    audiences: [\"api://orders\"]\n",
			fmt.Sprintf("    audiences: [\"api://orders\"]\n    max_concurrent_introspections: %d\n", c.maxConcurrent), 1)
	}
	if c.sender != "" {
		out = strings.Replace(out, "    audiences: [\"api://orders\"]\n",
			fmt.Sprintf("    audiences: [\"api://orders\"]\n    sender_constraint: %s\n", c.sender), 1)
	}
	return out + c.extra
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// write writes the configuration to a new file and returns its path.
func (c cfg) write(t *testing.T) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "tokengate.yaml", c.String())
}

// goodClaims is an access token that passes acme's policy for orders-read;
// extra adds claims, and a nil value removes one.
func goodClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"active": true, "sub": "user-1", "client_id": "app-1",
		"scope": "orders.read profile", "aud": "api://orders", "iss": "https://idp.acme.example",
		"token_type": "Bearer", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Add(-time.Minute).Unix(),
	}
	return testsupport.Edit(c, extra)
}

// tokenID is what the logs carry instead of a token: the first 12 hex
// digits of its SHA-256.
func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:12]
}

// realm is the challenge of a request without a token on tenant acme.
const realm = `Bearer realm="acme"`
