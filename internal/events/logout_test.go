package events

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/revocation"
)

// TestLogoutValidation: one row per rule of Back-Channel Logout 1.0 §2.6
// as the contract lists them; a refusal records nothing.
func TestLogoutValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(map[string]any)
		status int
		mark   revocation.Mark // checked on success
	}{
		{"valid with sid: the session", func(map[string]any) {}, 200,
			revocation.Mark{Tenant: "acme", Kind: revocation.MarkSession, Value: "sess-1", At: testNow.UnixMilli()}},
		{"valid with sub only: the subject", func(c map[string]any) { delete(c, "sid") }, 200,
			revocation.Mark{Tenant: "acme", Kind: revocation.MarkSubject, Value: "user-1", At: testNow.UnixMilli()}},
		{"aud array containing the client", func(c map[string]any) { c["aud"] = []string{"other", clientID} }, 200,
			revocation.Mark{Tenant: "acme", Kind: revocation.MarkSession, Value: "sess-1", At: testNow.UnixMilli()}},
		{"iat 4 minutes ago", func(c map[string]any) { c["iat"] = testNow.Add(-4 * time.Minute).Unix() }, 200,
			revocation.Mark{Tenant: "acme", Kind: revocation.MarkSession, Value: "sess-1", At: testNow.Add(-4 * time.Minute).UnixMilli()}},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, 200,
			revocation.Mark{Tenant: "acme", Kind: revocation.MarkSession, Value: "sess-1", At: testNow.UnixMilli()}},
		{"other issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, 400, revocation.Mark{}},
		{"no iss", func(c map[string]any) { delete(c, "iss") }, 400, revocation.Mark{}},
		{"other audience", func(c map[string]any) { c["aud"] = "other" }, 400, revocation.Mark{}},
		{"aud not strings", func(c map[string]any) { c["aud"] = []any{1} }, 400, revocation.Mark{}},
		{"no iat", func(c map[string]any) { delete(c, "iat") }, 400, revocation.Mark{}},
		{"iat 6 minutes ago", func(c map[string]any) { c["iat"] = testNow.Add(-6 * time.Minute).Unix() }, 400, revocation.Mark{}},
		{"iat 6 minutes ahead", func(c map[string]any) { c["iat"] = testNow.Add(6 * time.Minute).Unix() }, 400, revocation.Mark{}},
		{"iat a string", func(c map[string]any) { c["iat"] = "now" }, 400, revocation.Mark{}},
		{"exp passed", func(c map[string]any) { c["exp"] = testNow.Add(-time.Second).Unix() }, 400, revocation.Mark{}},
		{"no events", func(c map[string]any) { delete(c, "events") }, 400, revocation.Mark{}},
		{"events without the member", func(c map[string]any) { c["events"] = map[string]any{"x": map[string]any{}} }, 400, revocation.Mark{}},
		{"member not an object", func(c map[string]any) { c["events"] = map[string]any{BackchannelLogoutEvent: true} }, 400, revocation.Mark{}},
		{"neither sub nor sid", func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }, 400, revocation.Mark{}},
		{"nonce", func(c map[string]any) { c["nonce"] = "n" }, 400, revocation.Mark{}},
		{"no jti", func(c map[string]any) { delete(c, "jti") }, 400, revocation.Mark{}},
		{"sub not a string", func(c map[string]any) { c["sub"] = 5 }, 400, revocation.Mark{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			c := logoutClaims()
			tc.edit(c)
			w := f.postLogout(t, sign(t, "logout+jwt", c))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			got := f.marker.got()
			if tc.status != 200 {
				if len(got) != 0 || errorOf(t, w, "error") == "" || w.Header().Get("Content-Type") != "application/json" {
					t.Errorf("refusal: marks %v, body %s", got, w.Body)
				}
				if !strings.HasSuffix(f.counts.last(), " rejected") {
					t.Errorf("counted %q", f.counts.last())
				}
				return
			}
			tc.mark.Until = testNow.Add(time.Hour).UnixMilli()
			if len(got) != 1 || got[0] != tc.mark {
				t.Errorf("marks %+v, want %+v", got, tc.mark)
			}
			if f.counts.last() != "acme backchannel_logout revoked" {
				t.Errorf("counted %q", f.counts.last())
			}
		})
	}
}

// TestLogoutSignatureAndReplay: a token of an unknown key, an HMAC or
// "none" alg is refused; the same jti twice is refused the second time.
func TestLogoutSignatureAndReplay(t *testing.T) {
	f := newFixture(t, 0)
	c := logoutClaims()
	if w := f.postLogout(t, signWith(t, jwkstest.ECKey(), "unknown-kid", "", c)); w.Code != http.StatusBadRequest || errorOf(t, w, "error") != "invalid_key" {
		t.Errorf("unknown kid: %d %s", w.Code, w.Body)
	}
	good := sign(t, "", c)
	forged := good[:len(good)-4] + "AAAA"
	if w := f.postLogout(t, forged); w.Code != http.StatusBadRequest {
		t.Errorf("forged signature: %d %s", w.Code, w.Body)
	}
	none := jwkstest.Encode([]byte(`{"alg":"none"}`)) + "." + jwkstest.Encode([]byte(`{"iss":"`+issuer+`"}`)) + "."
	if w := f.postLogout(t, none); w.Code != http.StatusBadRequest {
		t.Errorf("alg none: %d %s", w.Code, w.Body)
	}
	if len(f.marker.got()) != 0 {
		t.Fatalf("refused tokens recorded marks: %v", f.marker.got())
	}
	if w := f.postLogout(t, good); w.Code != http.StatusOK {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	w := f.postLogout(t, good)
	if w.Code != http.StatusBadRequest || !strings.Contains(errorOf(t, w, "error_description"), "replay") {
		t.Errorf("replay: %d %s", w.Code, w.Body)
	}
	if f.counts.last() != "acme backchannel_logout replayed" || len(f.marker.got()) != 1 {
		t.Errorf("replay counted %q, marks %v", f.counts.last(), f.marker.got())
	}
}
