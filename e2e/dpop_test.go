package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

// The checked request of the sender-constraint tests, and its htu.
const (
	dpopPath = "/orders/1"
	dpopHTU  = "https://orders.acme.example/orders/1"
)

// dpopClaims are a good token's claims bound by cnf, as a DPoP-capable
// server answers them (token_type DPoP for DPoP-bound tokens).
func dpopClaims(cnf map[string]any) map[string]any {
	extra := map[string]any{"cnf": cnf}
	if _, ok := cnf["jkt"]; ok {
		extra["token_type"] = "DPoP"
	}
	return goodClaims(extra)
}

// reason is a gRPC answer's reason (the status message).
func (a answer) reason() string { return a.resp.GetStatus().GetMessage() }

// httpCheck is one HTTP-mode check of GET orders.acme.example/orders/1 as
// a forward-auth proxy asks it, with more headers (name, value, ...).
func httpCheck(t *testing.T, p *proc, kv ...string) (int, string, string) {
	t.Helper()
	h := hdr(append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Host", "orders.acme.example", "X-Forwarded-Uri", dpopPath}, kv...)...)
	code, rh, body := httpDo(t, "GET", "http://"+p.httpAddr+"/authz", h, "")
	return code, rh.Get("WWW-Authenticate"), body
}

// TestSenderConstrainedTokens: DPoP-bound and certificate-bound tokens
// through gRPC and HTTP mode, against the black-box binary.
func TestSenderConstrainedTokens(t *testing.T) {
	t.Parallel()
	key, otherKey := dpoptest.Fresh(t, "ES256"), dpoptest.Fresh(t, "ES256")
	clientCA := testsupport.NewCA(t, "e2e client CA")
	client, otherClient := clientCA.KeyPair(t, 2, "client", false), clientCA.KeyPair(t, 3, "other client", false)
	cert, otherCert, x5t := sendertest.EnvoyCertificate(client), sendertest.EnvoyCertificate(otherClient), sendertest.X5T(client)
	as, p := serveAcme(t, cfg{sender: "{certificate_header: X-Client-Cert, dpop_algorithms: [ES256, EdDSA]}"})
	as.Claims("tok-dpop", dpopClaims(map[string]any{"jkt": key.Thumbprint()}))
	as.Claims("tok-cert", dpopClaims(map[string]any{"x5t#S256": x5t}))
	proof := func(htu string) string { return key.Proof(t, "GET", htu, "tok-dpop") }
	dpopReq := func(auth string, proofs ...string) req {
		r := req{path: dpopPath, auth: auth, headers: map[string]string{}}
		for i, pr := range proofs {
			r.headers[[]string{"dpop", "DPoP"}[i]] = pr
		}
		return r
	}
	const algs = `, algs="ES256 EdDSA"`

	t.Run("gRPC", func(t *testing.T) {
		fresh := proof(dpopHTU)
		if a := p.check(t, dpopReq("DPoP tok-dpop", fresh)); !a.allow || a.set["x-auth-subject"] != "user-1" {
			t.Fatalf("fresh proof: %+v", a)
		}
		for _, tt := range []struct {
			name           string
			r              req
			reason, errTxt string
			dpopChallenge  bool
		}{
			{"replayed proof", dpopReq("DPoP tok-dpop", fresh), "invalid_dpop_proof", "invalid_dpop_proof", true},
			{"proof for another URL", dpopReq("DPoP tok-dpop", proof("https://orders.acme.example/orders/2")), "invalid_dpop_proof", "invalid_dpop_proof", true},
			{"proof for another host", dpopReq("DPoP tok-dpop", proof("https://evil.example/orders/1")), "invalid_dpop_proof", "invalid_dpop_proof", true},
			{"proof of another key", dpopReq("DPoP tok-dpop", otherKey.Proof(t, "GET", dpopHTU, "tok-dpop")), "invalid_token", "invalid_token", true},
			{"Bearer scheme (downgrade)", dpopReq(bearer("tok-dpop")), "invalid_token", "invalid_token", true},
			{"Bearer scheme with a proof (downgrade)", dpopReq(bearer("tok-dpop"), proof(dpopHTU)), "invalid_token", "invalid_token", true},
			{"missing proof", dpopReq("DPoP tok-dpop"), "invalid_dpop_proof", "invalid_dpop_proof", true},
			{"two proofs", dpopReq("DPoP tok-dpop", proof(dpopHTU), proof(dpopHTU)), "invalid_dpop_proof", "invalid_dpop_proof", true},
			{"certificate-bound, another certificate", req{path: dpopPath, auth: bearer("tok-cert"), cert: otherCert}, "certificate_mismatch", "invalid_token", false},
			{"certificate-bound, no certificate", req{path: dpopPath, auth: bearer("tok-cert")}, "certificate_mismatch", "invalid_token", false},
		} {
			a := p.check(t, tt.r)
			want := `Bearer realm="acme", error="` + tt.errTxt + `"`
			if tt.dpopChallenge {
				want = `DPoP realm="acme", error="` + tt.errTxt + `"`
			}
			if a.allow || a.status != 401 || a.reason() != tt.reason || a.body["error"] != tt.errTxt ||
				!strings.HasPrefix(a.challenge, want) || strings.HasSuffix(a.challenge, algs) != tt.dpopChallenge {
				t.Errorf("%s: %d %q %q %q", tt.name, a.status, a.reason(), a.body, a.challenge)
			}
		}
		if a := p.check(t, req{path: dpopPath, auth: bearer("tok-cert"), cert: cert}); !a.allow {
			t.Errorf("certificate-bound, its certificate: %+v", a)
		}
	})

	t.Run("HTTP mode", func(t *testing.T) {
		fresh := proof(dpopHTU)
		if code, _, body := httpCheck(t, p, "Authorization", "DPoP tok-dpop", "DPoP", fresh); code != 200 {
			t.Fatalf("fresh proof: %d %s", code, body)
		}
		if code, _, body := httpCheck(t, p, "Authorization", "DPoP tok-dpop", "X-Forwarded-Proto", "https", "DPoP", proof(dpopHTU)); code != 200 {
			t.Fatalf("X-Forwarded-Proto https: %d %s", code, body)
		}
		for _, tt := range []struct {
			name     string
			kv       []string
			errTxt   string
			dpopChal bool
		}{
			{"replayed proof", []string{"Authorization", "DPoP tok-dpop", "DPoP", fresh}, "invalid_dpop_proof", true},
			{"proof for another URL", []string{"Authorization", "DPoP tok-dpop", "DPoP", proof("https://orders.acme.example/orders")}, "invalid_dpop_proof", true},
			{"proof for https, request forwarded as http", []string{"Authorization", "DPoP tok-dpop", "X-Forwarded-Proto", "http", "DPoP", proof(dpopHTU)}, "invalid_dpop_proof", true},
			{"proof of another key", []string{"Authorization", "DPoP tok-dpop", "DPoP", otherKey.Proof(t, "GET", dpopHTU, "tok-dpop")}, "invalid_token", true},
			{"Bearer scheme (downgrade)", []string{"Authorization", bearer("tok-dpop")}, "invalid_token", true},
			{"missing proof", []string{"Authorization", "DPoP tok-dpop"}, "invalid_dpop_proof", true},
			{"certificate header, another certificate", []string{"Authorization", bearer("tok-cert"), "X-Client-Cert", otherCert}, "invalid_token", false},
			{"certificate in another header", []string{"Authorization", bearer("tok-cert"), "X-SSL-Client-Cert", cert}, "invalid_token", false},
		} {
			code, challenge, body := httpCheck(t, p, tt.kv...)
			want := `Bearer realm="acme", error="` + tt.errTxt + `"`
			if tt.dpopChal {
				want = `DPoP realm="acme", error="` + tt.errTxt + `"`
			}
			if code != 401 || !strings.Contains(body, `"error":"`+tt.errTxt+`"`) || !strings.HasPrefix(challenge, want) {
				t.Errorf("%s: %d %q %s", tt.name, code, challenge, body)
			}
		}
		if code, _, body := httpCheck(t, p, "Authorization", bearer("tok-cert"), "X-Client-Cert", cert); code != 200 {
			t.Errorf("certificate header, its certificate: %d %s", code, body)
		}
	})
	// Proofs are checked on every request; the claims come from the cache.
	wantIntrospected(t, as, "tok-dpop", 1, "cached claims, proofs checked each time")
}

// TestDPoPRequiredAndReplayAcrossReplicas: a tenant that requires DPoP
// refuses unbound tokens with a DPoP challenge, and two tokengates sharing
// Redis refuse a proof the other one accepted, gRPC or HTTP mode.
func TestDPoPRequiredAndReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	as := newAS(t)
	key := dpoptest.Fresh(t, "ES256")
	as.Claims("tok-bound", dpopClaims(map[string]any{"jkt": key.Thumbprint()}))
	as.Claims("tok-plain", goodClaims(nil))
	c := cfg{as: as.URL, sender: "{required: dpop}",
		extra: fmt.Sprintf("redis:\n  address: %q\n  key_prefix: \"e2e-dpop:\"\n  timeout: 500ms\n", rs.Addr())}
	a := startServe(t, c.write(t), serveOpts{env: acmeEnv})
	b := startServe(t, c.write(t), serveOpts{env: acmeEnv})
	const algs = `algs="ES256 RS256 PS256 EdDSA"`

	if ans := a.check(t, req{path: dpopPath, auth: bearer("tok-plain")}); ans.reason() != "unbound_token" ||
		ans.challenge != `DPoP realm="acme", error="invalid_token", error_description="a DPoP-bound access token is required", `+algs {
		t.Fatalf("unbound token: %q %q", ans.reason(), ans.challenge)
	}
	if ans := a.check(t, req{path: dpopPath}); ans.challenge != `DPoP realm="acme", `+algs {
		t.Fatalf("missing token: %q", ans.challenge)
	}
	if code, challenge, _ := httpCheck(t, b); code != 401 || challenge != `DPoP realm="acme", `+algs {
		t.Fatalf("HTTP mode, missing token: %d %q", code, challenge)
	}

	proof := key.Proof(t, "GET", dpopHTU, "tok-bound")
	dpopReq := req{path: dpopPath, auth: "DPoP tok-bound", headers: map[string]string{"dpop": proof}}
	if ans := a.check(t, dpopReq); !ans.allow {
		t.Fatalf("first use at A: %+v", ans)
	}
	if ans := b.check(t, dpopReq); ans.reason() != "invalid_dpop_proof" || ans.body["error_description"] != "DPoP proof has been used before (jti)" {
		t.Fatalf("replay at B: %q %q", ans.reason(), ans.body)
	}
	if code, _, body := httpCheck(t, b, "Authorization", "DPoP tok-bound", "DPoP", proof); code != 401 || !strings.Contains(body, "used before") {
		t.Fatalf("replay at B in HTTP mode: %d %s", code, body)
	}
	fresh := key.Proof(t, "GET", dpopHTU, "tok-bound")
	if code, _, body := httpCheck(t, b, "Authorization", "DPoP tok-bound", "DPoP", fresh); code != http.StatusOK {
		t.Fatalf("fresh proof at B: %d %s", code, body)
	}
	if ans := a.check(t, req{path: dpopPath, auth: "DPoP tok-bound", headers: map[string]string{"dpop": fresh}}); ans.reason() != "invalid_dpop_proof" {
		t.Fatalf("replay at A of B's proof: %q", ans.reason())
	}
}
