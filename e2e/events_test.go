package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// Revocation events pushed by the authorization server (the contract's
// "Revocation events from the authorization server"), through the binary.

const (
	eventsIssuer   = "https://idp.acme.example" // acme's issuer in cfg
	ssfTransmitter = "https://ssf.acme.example"
	ssfAudience    = "https://rs.acme.example"
	bclEvent       = "http://schemas.openid.net/event/backchannel-logout"
	caepSession    = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
)

// eventsConfig is the suite's configuration with acme's events on, keys
// at keys, and extra top-level YAML.
func eventsConfig(t *testing.T, asURL string, keys *jwkstest.Server, extra string) string {
	t.Helper()
	c := cfg{as: asURL, extra: extra}.String()
	const anchor = "    audiences: [\"api://orders\"]\n"
	out := strings.Replace(c, anchor, anchor+fmt.Sprintf(`    events:
      backchannel_logout: {client_id: %q}
      ssf: {issuer: %q, audience: %q}
      jwks_url: %q
      revocation_ttl: 1h
`, acmeClientID, ssfTransmitter, ssfAudience, keys.JWKSURL()), 1)
	if out == c {
		t.Fatal("no anchor for the events section")
	}
	return writeFile(t, t.TempDir(), "tokengate.yaml", out)
}

// signEvent signs claims with the suite's EC key (kid ec-1), header typ
// ("": none).
func signEvent(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": "ES256", "kid": "ec-1"}
	if typ != "" {
		h["typ"] = typ
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	return jwkstest.MustSignRaw(t, jwkstest.ECKey(), "ES256", hb, pb)
}

func logoutToken(t *testing.T, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": eventsIssuer, "aud": acmeClientID, "iat": time.Now().Unix(),
		"exp": time.Now().Add(2 * time.Minute).Unix(), "jti": "bcl-" + strconv.FormatInt(time.Now().UnixNano(), 10),
		"events": map[string]any{bclEvent: map[string]any{}}}
	for k, v := range extra {
		c[k] = v
	}
	return signEvent(t, "logout+jwt", c)
}

func (p *proc) postLogout(t *testing.T, token string) (int, string) {
	t.Helper()
	code, _, body := httpDo(t, "POST", "http://"+p.httpAddr+"/events/acme/backchannel-logout",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, url.Values{"logout_token": {token}}.Encode())
	return code, body
}

func (p *proc) postSET(t *testing.T, set string) (int, string) {
	t.Helper()
	code, _, body := httpDo(t, "POST", "http://"+p.httpAddr+"/events/acme/ssf",
		http.Header{"Content-Type": {"application/secevent+jwt"}}, set)
	return code, body
}

// wantRevoked fails t unless token is denied 401 revoked.
func wantRevoked(t *testing.T, p *proc, token string) {
	t.Helper()
	ans := p.check(t, req{auth: bearer(token)})
	if ans.allow || ans.status != 401 || ans.meta["reason"] != "revoked" || ans.body["error"] != "invalid_token" ||
		!strings.Contains(ans.challenge, `error="invalid_token", error_description="`) {
		t.Errorf("%s: allow %t, %d, reason %q, challenge %q, body %v; want 401 revoked", token, ans.allow, ans.status, ans.meta["reason"], ans.challenge, ans.body)
	}
}

func wantAllowed(t *testing.T, p *proc, token string) {
	t.Helper()
	if ans := p.check(t, req{auth: bearer(token)}); !ans.allow {
		t.Errorf("%s: %d %v, want an allow", token, ans.status, ans.body)
	}
}

// TestEventsBackchannelLogout: a logout token revokes the subject's cached
// token (401 revoked) while another user's and a later token pass; a
// replay, a bad signature and a large body are refused; the event is
// logged without the token and counted.
func TestEventsBackchannelLogout(t *testing.T) {
	t.Parallel()
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := newAS(t)
	p := startServe(t, eventsConfig(t, as.URL, keys, ""), serveOpts{env: acmeEnv})
	as.Claims("tok-u1", goodClaims(nil))
	as.Claims("tok-u2", goodClaims(map[string]any{"sub": "user-2"}))
	as.Claims("tok-u1-noiat", goodClaims(map[string]any{"iat": nil}))
	wantAllowed(t, p, "tok-u1")
	wantAllowed(t, p, "tok-u2")
	wantAllowed(t, p, "tok-u1-noiat")

	from := p.mark()
	token := logoutToken(t, map[string]any{"sub": "user-1"})
	if code, body := p.postLogout(t, token); code != 200 {
		t.Fatalf("logout: %d %s", code, body)
	}
	wantRevoked(t, p, "tok-u1")
	wantAllowed(t, p, "tok-u2")
	if n := as.Calls("tok-u1"); n != 2 {
		t.Errorf("tok-u1 introspected %d times, want 2 (its cache entry evicted)", n)
	}
	// A token without iat is evicted and introspected again (the server
	// still calls it active here).
	wantAllowed(t, p, "tok-u1-noiat")
	wantIntrospected(t, as, "tok-u1-noiat", 2, "evicted by the logout")
	// A token issued after the logout passes.
	as.Claims("tok-u1-new", goodClaims(map[string]any{"iat": time.Now().Add(5 * time.Second).Unix()}))
	wantAllowed(t, p, "tok-u1-new")

	if code, body := p.postLogout(t, token); code != 400 || !strings.Contains(body, "replay") {
		t.Errorf("replayed logout token: %d %s", code, body)
	}
	forged := logoutToken(t, map[string]any{"sub": "user-2"})
	forged = forged[:strings.LastIndexByte(forged, '.')+1] + strings.Repeat("A", 86)
	if code, body := p.postLogout(t, forged); code != 400 || !strings.Contains(body, `"error"`) {
		t.Errorf("bad signature: %d %s", code, body)
	}
	wantAllowed(t, p, "tok-u2")
	if code, _ := p.postLogout(t, strings.Repeat("a", 70<<10)); code != 413 {
		t.Errorf("70 KiB body: %d, want 413", code)
	}

	line := p.waitLog(t, 5*time.Second, from, msgIs("revocation event"))
	if line.str("tenant") != "acme" || line.str("type") != "backchannel_logout" || line.str("subject_hash") == "" {
		t.Errorf("event log line: %s", line.raw)
	}
	for _, l := range p.findLogs(from, func(logLine) bool { return true }) {
		if strings.Contains(l.raw, token[:40]) || strings.Contains(l.raw, "user-1") {
			t.Errorf("a log line carries the logout token or the raw subject: %s", l.raw)
		}
	}
	text := p.scrape(t)
	for result, want := range map[string]float64{"revoked": 1, "replayed": 1, "rejected": 1, "too_large": 1} {
		if v, _ := metricValue(text, "tokengate_revocation_events_total", map[string]string{"tenant": "acme", "type": "backchannel_logout", "result": result}); v != want {
			t.Errorf("tokengate_revocation_events_total{result=%q} = %v, want %v", result, v, want)
		}
	}
	if v, _ := metricValue(text, "tokengate_decisions_total", map[string]string{"tenant": "acme", "reason": "revoked"}); v < 1 {
		t.Errorf("no decision counted with reason revoked")
	}
}

// TestEventsSSFSessionRevoked: a CAEP session-revoked SET for a complex
// subject revokes that session only (by the sid claim); its replay is a
// 400 with an RFC 8935 error; more than 100 events a second are 429.
func TestEventsSSFSessionRevoked(t *testing.T) {
	t.Parallel()
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := newAS(t)
	p := startServe(t, eventsConfig(t, as.URL, keys, ""), serveOpts{env: acmeEnv})
	as.Claims("tok-s1", goodClaims(map[string]any{"sid": "sess-1"}))
	as.Claims("tok-s2", goodClaims(map[string]any{"sid": "sess-2"}))
	as.Claims("tok-s1-noiat", goodClaims(map[string]any{"sid": "sess-1", "sub": "user-9", "iat": nil}))
	as.Claims("tok-s2-noiat", goodClaims(map[string]any{"sid": "sess-2", "iat": nil}))
	for _, tok := range []string{"tok-s1", "tok-s2", "tok-s1-noiat", "tok-s2-noiat"} {
		wantAllowed(t, p, tok)
	}

	set := signEvent(t, "secevent+jwt", map[string]any{
		"iss": ssfTransmitter, "aud": ssfAudience, "iat": time.Now().Unix(), "jti": "set-1",
		"events": map[string]any{caepSession: map[string]any{
			"subject":         map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": eventsIssuer, "sub": "user-1"}, "session": map[string]any{"format": "opaque", "id": "sess-1"}},
			"event_timestamp": time.Now().Unix(),
		}},
	})
	if code, body := p.postSET(t, set); code != 202 {
		t.Fatalf("SET: %d %s", code, body)
	}
	wantRevoked(t, p, "tok-s1")
	wantAllowed(t, p, "tok-s2")
	// The session's token without iat is evicted and introspected again
	// (the server still calls it active here); the other session's is not.
	wantAllowed(t, p, "tok-s1-noiat")
	wantIntrospected(t, as, "tok-s1-noiat", 2, "evicted by the session event")
	wantAllowed(t, p, "tok-s2-noiat")
	wantIntrospected(t, as, "tok-s2-noiat", 1, "another session")
	code, body := p.postSET(t, set)
	var e struct{ Err, Description string }
	if code != 400 || json.Unmarshal([]byte(body), &e) != nil || e.Err != "invalid_request" || e.Description == "" {
		t.Errorf("replayed SET: %d %s", code, body)
	}
	if code, body := p.postSET(t, signEvent(t, "JWT", map[string]any{"iss": ssfTransmitter})); code != 400 || !strings.Contains(body, `"err":"invalid_key"`) {
		t.Errorf("SET with typ JWT: %d %s", code, body)
	}

	limited := 0
	for i := 0; i < 200 && limited == 0; i++ {
		if code, _ := p.postSET(t, "x"); code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("200 events in a row were never refused 429")
	}
}

// TestEventsRedisReplicas: replicas share a real redis-server; a logout
// token posted to one revokes the session on the other within a second,
// its replay at the other is refused, and a replica started later knows
// the revocation too.
func TestEventsRedisReplicas(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := newAS(t)
	as.Claims("tok-r1", goodClaims(nil))
	redis := fmt.Sprintf("redis:\n  address: %q\n  key_prefix: \"e2e-events:\"\n  timeout: 200ms\n", rs.Addr())
	a := startServe(t, eventsConfig(t, as.URL, keys, redis), serveOpts{env: acmeEnv})
	b := startServe(t, eventsConfig(t, as.URL, keys, redis), serveOpts{env: acmeEnv})
	rs.WaitSubscribers(t, "e2e-events:revocations", 2) // both replicas hear events
	wantAllowed(t, a, "tok-r1")
	wantAllowed(t, b, "tok-r1")

	token := logoutToken(t, map[string]any{"sub": "user-1", "sid": "sess-r"})
	as.Claims("tok-r1", goodClaims(map[string]any{"sid": "sess-r"}))
	as.Claims("tok-r2", goodClaims(map[string]any{"sid": "sess-r"}))
	as.Claims("tok-r3-noiat", goodClaims(map[string]any{"sid": "sess-r", "sub": "user-9", "iat": nil}))
	wantAllowed(t, b, "tok-r2")
	wantAllowed(t, b, "tok-r3-noiat")
	rc := goredis.NewClient(&goredis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	testsupport.WaitFor(t, 5*time.Second, "B's answer for tok-r3-noiat to reach Redis (index sets of user-1, user-9 and sess-r)", func() bool {
		return len(rc.Keys(context.Background(), "e2e-events:index:sub:*").Val()) >= 3
	})
	if code, body := a.postLogout(t, token); code != 200 {
		t.Fatalf("logout at A: %d %s", code, body)
	}
	testsupport.WaitFor(t, time.Second, "replica B to deny tok-r2 as revoked", func() bool {
		return b.check(t, req{auth: bearer("tok-r2")}).status == 401
	})
	// The session's token without iat leaves both caches, B's local one
	// and Redis: B asks the server again.
	testsupport.WaitFor(t, 5*time.Second, "replica B to introspect tok-r3-noiat again", func() bool {
		return b.check(t, req{auth: bearer("tok-r3-noiat")}).allow && as.Calls("tok-r3-noiat") >= 2
	})
	wantRevoked(t, b, "tok-r2")
	if code, body := b.postLogout(t, token); code != 400 || !strings.Contains(body, "replay") {
		t.Errorf("replay at B: %d %s", code, body)
	}
	// A replica started after the event restores its marker from Redis.
	c := startServe(t, eventsConfig(t, as.URL, keys, redis), serveOpts{env: acmeEnv})
	wantRevoked(t, c, "tok-r2")
}

// TestEventsReload: a reload turns the endpoints on and off (404 when off)
// without a restart.
func TestEventsReload(t *testing.T) {
	t.Parallel()
	keys := jwkstest.NewServer(t, jwkstest.KeySet()...)
	as := newAS(t)
	path := writeFile(t, t.TempDir(), "tokengate.yaml", cfg{as: as.URL}.String())
	p := startServe(t, path, serveOpts{env: acmeEnv})
	if code, _ := p.postLogout(t, logoutToken(t, map[string]any{"sub": "user-1"})); code != 404 {
		t.Fatalf("events off: %d, want 404", code)
	}
	on, err := os.ReadFile(eventsConfig(t, as.URL, keys, ""))
	if err != nil {
		t.Fatal(err)
	}
	mark := p.mark()
	replaceFile(t, path, string(on))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))
	if code, body := p.postLogout(t, logoutToken(t, map[string]any{"sub": "user-1"})); code != 200 {
		t.Fatalf("events on after the reload: %d %s", code, body)
	}
}
