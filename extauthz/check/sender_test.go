package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/introspection/sharedstore/sharedstoretest"
	"github.com/tokengate/tokengate/testsupport"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

// The DPoP tests' request: GET https://api.acme.example/orders/1.
const (
	senderHost = "api.acme.example"
	senderHTU  = "https://api.acme.example/orders/1"
)

// senderWorld is a checker with one tenant whose tokens are answered by
// as, and what its tests present.
type senderWorld struct {
	c      *Checker
	tenant *Tenant
	as     *introspectiontest.Introspector
	key    *dpoptest.Key
	log    *bytes.Buffer
	// certPEM is a client certificate (URL-encoded, as Envoy sends it)
	// and certTP its thumbprint; otherCert another client's.
	certPEM, certTP, otherCert string
}

// newSenderWorld's tenant requires required; edit changes it before the
// snapshot takes it.
func newSenderWorld(t testing.TB, required decision.Constraint, edit func(*Tenant)) *senderWorld {
	t.Helper()
	w := &senderWorld{as: introspectiontest.NewIntrospector(), key: dpoptest.NewKey(t, "ES256"), log: &bytes.Buffer{}}
	v, err := dpop.NewVerifier(dpop.Options{Algorithms: []string{"ES256", "EdDSA"}, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.tenant = &Tenant{Name: "acme", Introspector: w.as, Headers: claimheaders.New(claimheaders.Options{}), DPoP: v, CertificateHeader: "X-Client-Cert"}
	if edit != nil {
		edit(w.tenant)
	}
	ca := testsupport.NewCA(t, "sender test CA")
	cert := ca.KeyPair(t, 2, "client", false)
	w.certPEM, w.certTP = sendertest.EnvoyCertificate(cert), sendertest.X5T(cert)
	w.otherCert = sendertest.EnvoyCertificate(ca.KeyPair(t, 3, "other client", false))
	snap := NewSnapshot([]Route{{Rule: routing.Rule{Name: "orders", PathPrefix: "/orders"}, Tenant: w.tenant,
		Policy: decision.Policy{Realm: "acme", Required: required, DPoPAlgs: "ES256 EdDSA", TokenTypes: []string{"Bearer", "DPoP"}}}})
	w.c = New(snap, Options{Logger: slog.New(slog.NewJSONHandler(w.log, nil))}) // info, as in production
	return w
}

// answer makes as answer token with active claims and cnf (JSON; "":
// none), from its cache or not, compacted as the cache holds them.
func (w *senderWorld) answer(t testing.TB, token, cnf string, cache introspection.CacheStatus) {
	t.Helper()
	body := `{"active":true,"sub":"u1","token_type":"DPoP"`
	if cnf != "" {
		body += `,"cnf":` + cnf
	}
	c, err := introspection.ParseClaims([]byte(body + "}"))
	if err != nil {
		t.Fatal(err)
	}
	w.as.Answer(token, introspection.Result{Claims: c.Compact(nil), Cache: cache})
}

// dpopReq is a GET of senderHTU with the DPoP scheme and proofs.
func dpopReq(token string, proofs ...string) *Request {
	return &Request{Method: "GET", Host: senderHost, Path: "/orders/1?page=2", Authorization: "DPoP " + token, DPoP: proofs}
}

func (w *senderWorld) jktCnf() string { return `{"jkt":"` + w.key.Thumbprint() + `"}` }

// TestSenderConstraintOrderOfChecks: each request against the contract's
// order, with the authorization server calls it may make (none for a
// malformed proof, whatever the token).
func TestSenderConstraintOrderOfChecks(t *testing.T) {
	w := newSenderWorld(t, decision.RequireNone, nil)
	w.answer(t, "bound", w.jktCnf(), introspection.CacheMiss)
	w.answer(t, "plain", "", introspection.CacheMiss)
	w.answer(t, "certbound", `{"x5t#S256":"`+w.certTP+`"}`, introspection.CacheMiss)
	k, other := w.key, dpoptest.Fresh(t, "ES256")
	proof := func(token string) string { return k.Proof(t, "GET", senderHTU, token) }
	bent := func(token string, edit map[string]any) string {
		c := dpoptest.Claims("GET", senderHTU, token, time.Now())
		for name, v := range edit {
			c[name] = v
		}
		return k.Sign(t, nil, c)
	}
	tests := []struct {
		name   string
		req    *Request
		reason decision.Reason
		calls  int64
	}{
		{"fresh proof of the bound key", dpopReq("bound", proof("bound")), decision.Allowed, 1},
		{"bad path beats the proof", &Request{Method: "GET", Host: senderHost, Path: "/orders/../x", Authorization: "DPoP bound", DPoP: []string{"x"}}, decision.MalformedRequest, 0},
		{"no route beats the proof", &Request{Method: "GET", Host: senderHost, Path: "/nope", Authorization: "DPoP bound", DPoP: []string{"x"}}, decision.NoRoute, 0},
		{"no token beats the proof", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", DPoP: []string{proof("bound")}}, decision.MissingToken, 0},
		{"malformed token beats the proof", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "DPoP a b", DPoP: []string{proof("bound")}}, decision.MalformedToken, 0},
		{"DPoP scheme without a proof", dpopReq("bound"), decision.InvalidDPoPProof, 0},
		{"two DPoP headers", dpopReq("bound", proof("bound"), proof("bound")), decision.InvalidDPoPProof, 0},
		{"proof for another URL", dpopReq("bound", bent("bound", map[string]any{"htu": "https://api.acme.example/orders/2"})), decision.InvalidDPoPProof, 0},
		{"proof for another host", dpopReq("bound", bent("bound", map[string]any{"htu": "https://evil.example/orders/1"})), decision.InvalidDPoPProof, 0},
		{"proof for another method", dpopReq("bound", bent("bound", map[string]any{"htm": "POST"})), decision.InvalidDPoPProof, 0},
		{"proof for another token", dpopReq("bound", proof("other-token")), decision.InvalidDPoPProof, 0},
		{"proof too old", dpopReq("bound", bent("bound", map[string]any{"iat": time.Now().Add(-2 * time.Minute).Unix()})), decision.InvalidDPoPProof, 0},
		{"proof from the future", dpopReq("bound", bent("bound", map[string]any{"iat": time.Now().Add(time.Minute).Unix()})), decision.InvalidDPoPProof, 0},
		{"alg not allowed for the tenant", dpopReq("bound", dpoptest.NewKey(t, "RS256").Proof(t, "GET", senderHTU, "bound")), decision.InvalidDPoPProof, 0},
		{"malformed proof with the Bearer scheme", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer plain", DPoP: []string{"x.y.z"}}, decision.InvalidDPoPProof, 0},
		{"proof of another key", dpopReq("bound", other.Proof(t, "GET", senderHTU, "bound")), decision.InvalidToken, 1},
		{"bound token with the Bearer scheme", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer bound"}, decision.InvalidToken, 1},
		{"bound token with the Bearer scheme and a proof", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer bound", DPoP: []string{proof("bound")}}, decision.InvalidToken, 1},
		{"unbound token with the DPoP scheme", dpopReq("plain", proof("plain")), decision.InvalidToken, 1},
		{"unbound token with the Bearer scheme and a valid proof", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer plain", DPoP: []string{proof("plain")}}, decision.Allowed, 1},
		{"certificate-bound, its certificate", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound", Certificate: w.certPEM}, decision.Allowed, 1},
		{"certificate-bound, another certificate", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound", Certificate: w.otherCert}, decision.CertificateMismatch, 1},
		{"certificate-bound, no certificate", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound"}, decision.CertificateMismatch, 1},
		{"certificate-bound, garbage certificate", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound", Certificate: "%%%"}, decision.CertificateMismatch, 1},
		{"HTTP mode: certificate header", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound",
			Headers: map[string][]string{"X-Client-Cert": {w.certPEM}}}, decision.Allowed, 1},
		{"HTTP mode: certificate header twice", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound",
			Headers: map[string][]string{"X-Client-Cert": {w.certPEM, w.certPEM}}}, decision.CertificateMismatch, 1},
		{"HTTP mode: Certificate is not read", &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer certbound",
			Certificate: w.certPEM, Headers: map[string][]string{}}, decision.CertificateMismatch, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.as.Total()
			out := w.c.Check(context.Background(), tt.req)
			if out.Decision.Reason != tt.reason {
				t.Fatalf("reason %q (%s), want %q", out.Decision.Reason, out.Decision.Description, tt.reason)
			}
			if got := w.as.Total() - before; got != tt.calls {
				t.Errorf("%d calls to the authorization server, want %d", got, tt.calls)
			}
			if tt.calls == 0 && tt.reason == decision.InvalidDPoPProof && !strings.HasPrefix(out.Decision.Challenge(), `DPoP realm="acme", error="invalid_dpop_proof"`) {
				t.Errorf("challenge %q", out.Decision.Challenge())
			}
		})
	}
	if strings.Contains(w.log.String(), "bound\"") || strings.Contains(w.log.String(), ".ey") {
		t.Errorf("a token or proof in the logs:\n%s", w.log)
	}
}

// TestProofsCheckedOnEveryRequest: cached claims or not, every request's
// proof is checked, and a proof is good once.
func TestProofsCheckedOnEveryRequest(t *testing.T) {
	w := newSenderWorld(t, decision.RequireDPoP, nil)
	w.answer(t, "bound", w.jktCnf(), introspection.CacheHit)
	w.answer(t, "plain", "", introspection.CacheHit)
	p := w.key.Proof(t, "GET", senderHTU, "bound")
	for i, want := range []decision.Reason{decision.Allowed, decision.InvalidDPoPProof, decision.InvalidDPoPProof} {
		if out := w.c.Check(context.Background(), dpopReq("bound", p)); out.Decision.Reason != want {
			t.Fatalf("use %d of one proof: %q, want %q", i+1, out.Decision.Reason, want)
		}
	}
	if out := w.c.Check(context.Background(), dpopReq("bound", w.key.Proof(t, "GET", senderHTU, "bound"))); !out.Decision.Allow || out.Cache != introspection.CacheHit {
		t.Fatalf("a fresh proof with cached claims: %+v", out.Decision)
	}
	before := w.as.Total()
	if out := w.c.Check(context.Background(), dpopReq("bound", "e30.e30.e30")); out.Decision.Reason != decision.InvalidDPoPProof || w.as.Total() != before {
		t.Fatalf("a malformed proof: %q, %d calls", out.Decision.Reason, w.as.Total()-before)
	}
	// required dpop: an unbound token is refused with the DPoP challenge.
	out := w.c.Check(context.Background(), &Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer plain"})
	if out.Decision.Reason != decision.UnboundToken || !strings.HasPrefix(out.Decision.Challenge(), `DPoP realm="acme", error="invalid_token"`) {
		t.Fatalf("unbound token: %q %q", out.Decision.Reason, out.Decision.Challenge())
	}
	if c := w.c.Check(context.Background(), &Request{Method: "GET", Host: senderHost, Path: "/orders/1"}).Decision.Challenge(); c != `DPoP realm="acme", algs="ES256 EdDSA"` {
		t.Fatalf("missing token challenge %q", c)
	}
}

// TestProofURLs: htu names the request's scheme and authority, or the
// tenant's origin instead.
func TestProofURLs(t *testing.T) {
	w := newSenderWorld(t, decision.RequireNone, nil)
	w.answer(t, "bound", w.jktCnf(), introspection.CacheMiss)
	req := func(scheme, host, htu string) *Request {
		r := dpopReq("bound", w.key.Proof(t, "GET", htu, "bound"))
		r.Scheme, r.Host = scheme, host
		return r
	}
	for _, tt := range []struct {
		name string
		req  *Request
		want decision.Reason
	}{
		{"https by default", req("", senderHost, senderHTU), decision.Allowed},
		{"http request", req("http", senderHost, "http://api.acme.example/orders/1"), decision.Allowed},
		{"http request, https htu", req("http", senderHost, senderHTU), decision.InvalidDPoPProof},
		{"default port dropped", req("https", senderHost+":443", "https://API.acme.example/orders/1#x"), decision.Allowed},
		{"other port", req("https", senderHost+":8443", senderHTU), decision.InvalidDPoPProof},
		{"joined schemes match nothing", req("https,http", senderHost, senderHTU), decision.InvalidDPoPProof},
	} {
		if out := w.c.Check(context.Background(), tt.req); out.Decision.Reason != tt.want {
			t.Errorf("%s: %q (%s), want %q", tt.name, out.Decision.Reason, out.Decision.Description, tt.want)
		}
	}
	o := newSenderWorld(t, decision.RequireNone, func(tn *Tenant) {
		v, err := dpop.NewVerifier(dpop.Options{Origin: "https://gateway.acme.example:8443"})
		if err != nil {
			t.Fatal(err)
		}
		tn.DPoP = v
	})
	o.answer(t, "bound", o.jktCnf(), introspection.CacheMiss)
	r := dpopReq("bound", o.key.Proof(t, "GET", "https://gateway.acme.example:8443/orders/1", "bound"))
	r.Scheme, r.Host = "http", "internal:8080"
	if out := o.c.Check(context.Background(), r); !out.Decision.Allow {
		t.Errorf("origin: %q (%s)", out.Decision.Reason, out.Decision.Description)
	}
	if out := o.c.Check(context.Background(), dpopReq("bound", o.key.Proof(t, "GET", senderHTU, "bound"))); out.Decision.Reason != decision.InvalidDPoPProof {
		t.Errorf("origin set, htu of the request's host: %q", out.Decision.Reason)
	}
}

// TestReplayAcrossReplicas: two replicas (their own local caches) share
// one store; a proof used at one is refused at the other. With the store
// down, each replica's own cache decides, and says so with the token_id.
func TestReplayAcrossReplicas(t *testing.T) {
	store := sharedstoretest.New(nil)
	shared := sharedcache.New(sharedcache.Options{Store: store, BreakerThreshold: 100})
	t.Cleanup(shared.Close)
	replica := func() *senderWorld {
		return newSenderWorld(t, decision.RequireNone, func(tn *Tenant) { tn.Replay.Shared = shared.ReplayCache(store) })
	}
	a, b := replica(), replica()
	b.key = a.key
	for _, w := range []*senderWorld{a, b} {
		w.answer(t, "bound", a.jktCnf(), introspection.CacheHit)
	}
	p := a.key.Proof(t, "GET", senderHTU, "bound")
	if out := a.c.Check(context.Background(), dpopReq("bound", p)); !out.Decision.Allow {
		t.Fatalf("first use at A: %q", out.Decision.Reason)
	}
	if out := b.c.Check(context.Background(), dpopReq("bound", p)); out.Decision.Reason != decision.InvalidDPoPProof {
		t.Fatalf("replay at B: %q", out.Decision.Reason)
	}

	store.Fail(errors.New("redis down"))
	q := a.key.Proof(t, "GET", senderHTU, "bound")
	if out := a.c.Check(context.Background(), dpopReq("bound", q)); !out.Decision.Allow {
		t.Fatalf("store down, first use: %q", out.Decision.Reason)
	}
	if out := a.c.Check(context.Background(), dpopReq("bound", q)); out.Decision.Reason != decision.InvalidDPoPProof {
		t.Fatalf("store down, replay at the same replica: %q", out.Decision.Reason)
	}
	if out := b.c.Check(context.Background(), dpopReq("bound", q)); !out.Decision.Allow {
		t.Fatalf("store down, replay at another replica is not seen (documented): %q", out.Decision.Reason)
	}
	if n := shared.Stats().ReplayFallbacks.Load(); n != 2 {
		t.Errorf("fallbacks counted %d, want 2", n)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(a.log.String()), "\n") {
		if strings.Contains(l, "DPoP replay check") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["level"] != "WARN" || line["token_id"] != bearer.ID("bound") || strings.Contains(a.log.String(), q[:20]) {
		t.Errorf("fallback log line %v", line)
	}
}

// TestFullReplayCacheDenies503: a full local replay cache never forgets a
// jti to make room; the check cannot be completed (503).
func TestFullReplayCacheDenies503(t *testing.T) {
	w := newSenderWorld(t, decision.RequireNone, func(tn *Tenant) {
		tn.Replay.Local = dpop.NewMemoryReplayCache(dpop.MemoryOptions{MaxEntries: 1, Shards: 1})
	})
	w.answer(t, "bound", w.jktCnf(), introspection.CacheHit)
	if out := w.c.Check(context.Background(), dpopReq("bound", w.key.Proof(t, "GET", senderHTU, "bound"))); !out.Decision.Allow {
		t.Fatalf("first proof: %q", out.Decision.Reason)
	}
	out := w.c.Check(context.Background(), dpopReq("bound", w.key.Proof(t, "GET", senderHTU, "bound")))
	if out.Decision.Status != 503 || out.Decision.Reason != decision.IntrospectionError || !errors.Is(out.Err, dpop.ErrReplayCacheFull) {
		t.Fatalf("full cache: %+v, %v", out.Decision, out.Err)
	}
}
