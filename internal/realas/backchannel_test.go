package realas

// OpenID Connect Back-Channel Logout 1.0 from the real server: end users
// log in at oidc-provider (its devInteractions login and consent pages,
// authorization code with PKCE), tokengate allows and caches their access
// tokens, then one user's session ends at the provider's end_session
// endpoint and the provider POSTs a logout token to tokengate's
// /events/<tenant>/backchannel-logout: that user's cached token is denied
// 401 revoked at once, the other user's still passes.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The back-channel logout client of server/server.mjs (setup
// "backchannel_client") and tokengate's tenant for it.
const (
	bclClient, bclSecret = "bcl-app", "bcl-app-secret"
	bclRedirect          = "http://127.0.0.1/cb" // never fetched: the test reads Location
	bclTenant            = "bcl"
	bclHost              = "bcl.test"
	bclRevokeWithin      = time.Second // the logout must take effect this soon
)

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago:
// tokengate's HTTP listener must be known before the provider starts (the
// client's backchannel_logout_uri), and the provider before tokengate (its
// issuer).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// bclConfig is tokengate with one tenant in front of p: introspection as
// rs:basic, a long cache (so only the logout event can end a cached
// token early), back-channel logout for bclClient with the keys of the
// provider's OpenID discovery document, HTTP on httpPort.
func bclConfig(p *provider, httpPort int) string {
	return fmt.Sprintf(`
grpc:
  address: "127.0.0.1:0"
http:
  address: "127.0.0.1:%d"
tenants:
  - name: %s
    issuer: %s
    introspection:
      url: %s
      timeout: 3s
      auth_method: client_secret_basic
      client_id: %s
      client_secret: %s
    audiences: [%q]
    cache:
      max_ttl: 10m
    events:
      backchannel_logout: {client_id: %q}
      revocation_ttl: 1h
    claims_to_headers:
      sub: x-auth-subject
      client_id: x-auth-client-id
      sid: x-auth-sid
routes:
  - name: bcl-read
    tenant: %s
    hosts: [%q]
    path_prefix: /orders
    methods: [GET]
    scopes: [orders.read]
`, httpPort, bclTenant, yamlString(p.Issuer), yamlString(p.Introspection), yamlString(basicClient), yamlString(basicSecret),
		defaultAudience, bclClient, bclTenant, bclHost)
}

// endUser is a browser of one end user at the provider: its cookies, and
// the tokens it got.
type endUser struct {
	name        string
	hc          *http.Client
	accessToken string
	idToken     string
}

// do sends method target (form, if any, as the body) with the user's
// cookies, following no redirect, and returns the status, the Location
// (resolved against target) and the body.
func (u *endUser) do(t *testing.T, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", u.name, method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s: %s %s: %v", u.name, method, target, err)
	}
	loc := resp.Header.Get("Location")
	if loc != "" {
		ref, err := req.URL.Parse(loc)
		if err != nil {
			t.Fatalf("%s: %s %s: Location %q: %v", u.name, method, target, loc, err)
		}
		loc = ref.String()
	}
	return resp.StatusCode, loc, string(b)
}

var (
	promptInput = regexp.MustCompile(`name="prompt" value="([a-z]+)"`)
	xsrfInput   = regexp.MustCompile(`name="xsrf" value="([0-9a-f]+)"`)
)

// login runs the authorization code flow (PKCE S256, resource
// api://orders, scope openid orders.read) for user through the provider's
// devInteractions pages (any password), and exchanges the code for tokens.
func login(t *testing.T, p *provider, user string) *endUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &endUser{name: user, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	verifier := b64(randomBytes(t, 32))
	challenge := sha256.Sum256([]byte(verifier))
	state, nonce := b64(randomBytes(t, 16)), b64(randomBytes(t, 16))
	auth, _ := p.Discovery["authorization_endpoint"].(string)
	if auth == "" {
		t.Fatal("discovery has no authorization_endpoint")
	}
	q := url.Values{
		"client_id": {bclClient}, "response_type": {"code"}, "scope": {"openid orders.read"},
		"redirect_uri": {bclRedirect}, "resource": {defaultAudience}, "state": {state}, "nonce": {nonce},
		"code_challenge": {b64(challenge[:])}, "code_challenge_method": {"S256"},
	}
	status, next, body := u.do(t, http.MethodGet, auth+"?"+q.Encode(), nil)
	var code string
	for step := 0; code == ""; step++ {
		if step > 10 || status/100 != 3 || next == "" {
			t.Fatalf("%s: login step %d: %d, Location %q, body %.500s", user, step, status, next, body)
		}
		switch {
		case strings.HasPrefix(next, bclRedirect+"?"):
			loc, _ := url.Parse(next)
			if e := loc.Query().Get("error"); e != "" {
				t.Fatalf("%s: authorization error %q: %s", user, e, loc.Query().Get("error_description"))
			}
			if loc.Query().Get("state") != state {
				t.Fatalf("%s: state %q, want %q", user, loc.Query().Get("state"), state)
			}
			code = loc.Query().Get("code")
			if code == "" {
				t.Fatalf("%s: redirect without code: %s", user, next)
			}
		case strings.Contains(next, "/interaction/"):
			// The login or consent page: submit its form.
			st, _, page := u.do(t, http.MethodGet, next, nil)
			m := promptInput.FindStringSubmatch(page)
			if st != http.StatusOK || m == nil {
				t.Fatalf("%s: interaction page %s: %d %.500s", user, next, st, page)
			}
			form := url.Values{"prompt": {m[1]}}
			if m[1] == "login" {
				form.Set("login", user)
				form.Set("password", "any password")
			}
			status, next, body = u.do(t, http.MethodPost, next, form)
		default:
			status, next, body = u.do(t, http.MethodGet, next, nil)
		}
	}

	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {bclRedirect},
		"code_verifier": {verifier}, "resource": {defaultAudience},
	}
	st, raw := p.post(t, p.Token, bclClient, bclSecret, form, "")
	if st != http.StatusOK {
		t.Fatalf("%s: token endpoint: %d %s", user, st, raw)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" || tr.IDToken == "" {
		t.Fatalf("%s: token response %s (access_token and id_token wanted): %v", user, raw, err)
	}
	remember(tr.AccessToken)
	u.accessToken, u.idToken = tr.AccessToken, tr.IDToken
	return u
}

// logout ends the user's session at the provider (RP-initiated logout with
// id_token_hint, then the logout form's "Yes, sign me out": xsrf and
// logout=yes). The provider answers the confirmation once it has sent the
// back-channel logout tokens.
func (u *endUser) logout(t *testing.T, p *provider) {
	t.Helper()
	end, _ := p.Discovery["end_session_endpoint"].(string)
	if end == "" {
		t.Fatal("discovery has no end_session_endpoint")
	}
	st, _, page := u.do(t, http.MethodGet, end+"?"+url.Values{"id_token_hint": {u.idToken}}.Encode(), nil)
	m := xsrfInput.FindStringSubmatch(page)
	if st != http.StatusOK || m == nil {
		t.Fatalf("%s: logout page: %d %.500s", u.name, st, page)
	}
	st, loc, body := u.do(t, http.MethodPost, end+"/confirm", url.Values{"xsrf": {m[1]}, "logout": {"yes"}})
	if st/100 != 3 || !strings.Contains(loc, "/session/end/success") {
		t.Fatalf("%s: logout confirmation: %d, Location %q, body %.500s", u.name, st, loc, body)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBackchannelLogout: a logout at the real provider revokes, through
// its back-channel logout token, the cached access token of that session
// in tokengate within bclRevokeWithin; another user's token still passes.
func TestBackchannelLogout(t *testing.T) {
	httpPort := freeLoopbackPort(t)
	p, err := startProviderWith(t, providerOptions{extraSetup: map[string]any{
		"backchannel_client": map[string]any{
			"client_id": bclClient, "client_secret": bclSecret, "redirect_uri": bclRedirect,
			"backchannel_logout_uri": fmt.Sprintf("http://127.0.0.1:%d/events/%s/backchannel-logout", httpPort, bclTenant),
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authorization server stderr (%s):\n%s", p.Issuer, p.stderr)
		}
	})
	g := startGate(t, bclConfig(p, httpPort))

	// alice in two browsers (two sessions), bob in one.
	alice, aliceElsewhere, bob := login(t, p, "alice"), login(t, p, "alice"), login(t, p, "bob")

	// What the provider says about an end user's access token: sub is the
	// account, sid the session, the one a logout token names.
	claims := p.introspect(t, alice.accessToken)
	aliceSID, _ := claims["sid"].(string)
	if claims["active"] != true || claims["sub"] != "alice" || aliceSID == "" || claims["iat"] == nil {
		t.Fatalf("introspection of alice's token: %v (active, sub alice, sid and iat wanted)", claims)
	}
	bobSID, _ := p.introspect(t, bob.accessToken)["sid"].(string)
	elsewhereSID, _ := p.introspect(t, aliceElsewhere.accessToken)["sid"].(string)
	if bobSID == "" || elsewhereSID == "" || bobSID == aliceSID || elsewhereSID == aliceSID || bobSID == elsewhereSID {
		t.Fatalf("sids: alice %q, alice elsewhere %q, bob %q: three sessions wanted", aliceSID, elsewhereSID, bobSID)
	}

	allowed := func(what string, u *endUser, sid string) {
		t.Helper()
		r := g.check(t, "GET", bclHost, "/orders", u.accessToken)
		expect(t, what, r, 200, "allowed")
		if r.set["x-auth-subject"] != u.name || r.set["x-auth-client-id"] != bclClient || r.set["x-auth-sid"] != sid {
			t.Fatalf("%s: headers %v, want subject %s, client %s, sid %s", what, r.set, u.name, bclClient, sid)
		}
	}
	for _, u := range []struct {
		*endUser
		sid string
	}{{alice, aliceSID}, {aliceElsewhere, elsewhereSID}, {bob, bobSID}} {
		before := p.introspections(t, u.accessToken) // the test's own
		allowed(u.name+" before logout", u.endUser, u.sid)
		allowed(u.name+" before logout, cached", u.endUser, u.sid)
		if n := p.introspections(t, u.accessToken) - before; n != 1 {
			t.Fatalf("tokengate introspected %s's token %d times, want 1 (then cached)", u.name, n)
		}
	}

	alice.logout(t, p)
	loggedOut := time.Now()
	for {
		r := g.check(t, "GET", bclHost, "/orders", alice.accessToken)
		if !r.allow {
			expect(t, "alice after logout", r, 401, "revoked")
			if !strings.Contains(r.challenge, `error="invalid_token"`) || !strings.Contains(r.challenge, "revoked") {
				t.Errorf("alice after logout: challenge %q", r.challenge)
			}
			t.Logf("alice's token denied %s after the logout confirmation", time.Since(loggedOut).Round(time.Millisecond))
			break
		}
		if time.Since(loggedOut) > bclRevokeWithin {
			t.Fatalf("alice's token still allowed %s after her logout (%s)", time.Since(loggedOut), r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The provider reports (on stderr, which reaches p.stderr a little
	// later) that tokengate accepted the logout token (200).
	for want, deadline := "backchannel.success "+bclClient+" "+aliceSID, time.Now().Add(2*time.Second); !strings.Contains(p.stderr.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("the provider reports no successful back-channel logout of %s session %s", bclClient, aliceSID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The logout (logout=yes) also revoked alice's grant at the provider: only the
	// logout event can make tokengate deny the cached token before
	// cache.max_ttl (10m), and with reason revoked, not inactive.
	if c := p.introspect(t, alice.accessToken); c["active"] != false {
		t.Fatalf("alice's token after logout, at the provider: %v (active:false wanted)", c)
	}
	bobBefore := p.introspections(t, bob.accessToken)
	allowed("bob after alice's logout", bob, bobSID)
	if n := p.introspections(t, bob.accessToken) - bobBefore; n != 0 {
		t.Errorf("tokengate introspected bob's token %d more times after alice's logout, want 0 (still cached)", n)
	}

	// The logout token named alice's session (sid, as
	// backchannel_logout_session_required asks), not only her subject: her
	// token of the other session, issued before the logout, still passes.
	allowed("alice's other session after the logout", aliceElsewhere, elsewhereSID)

	// tokengate logged the event (never the token or the raw subject).
	events := g.logLines(t, "revocation event")
	if len(events) != 1 || events[0]["tenant"] != bclTenant || events[0]["type"] != "backchannel_logout" ||
		events[0]["result"] != "revoked" || events[0]["claim"] != "sid" {
		t.Fatalf("revocation event log lines: %v (one, tenant %s, type backchannel_logout, result revoked, claim sid, wanted)", events, bclTenant)
	}
	t.Logf("tokengate: %v", events[0])
	if strings.Contains(g.logs.String(), aliceSID) {
		t.Errorf("alice's raw sid appears in tokengate's logs")
	}

	// A new session of alice (a new sid) is not affected by the old one's
	// logout.
	again := login(t, p, "alice")
	againSID, _ := p.introspect(t, again.accessToken)["sid"].(string)
	if againSID == "" || againSID == aliceSID {
		t.Fatalf("alice's new session has sid %q (old %q)", againSID, aliceSID)
	}
	allowed("alice in a new session", again, againSID)
	noSecretsInLogs(t, g, basicSecret, bclSecret)
}
