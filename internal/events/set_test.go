package events

import (
	"net/http"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/revocation"
)

func setClaims(events map[string]any) map[string]any {
	return map[string]any{"iss": ssfIssuer, "aud": audience, "iat": testNow.Unix(), "jti": "set-" + randomSuffix(), "events": events}
}

func opaque(id string) map[string]any { return map[string]any{"format": "opaque", "id": id} }

// TestSETEvents: every handled CAEP/RISC type and subject format, the
// event time's sources, unknown types and foreign subjects.
func TestSETEvents(t *testing.T) {
	at := testNow.Add(-time.Minute)
	mark := func(kind revocation.MarkKind, v string, at time.Time) []revocation.Mark {
		return []revocation.Mark{{Tenant: "acme", Kind: kind, Value: v, At: at.UnixMilli(), Until: testNow.Add(time.Hour).UnixMilli()}}
	}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   []revocation.Mark
		count  string
	}{
		{"session-revoked, complex session: that session", setClaims(map[string]any{
			caepPrefix + "session-revoked": map[string]any{"subject": map[string]any{"format": "complex", "user": opaque("user-1"), "session": opaque("sess-1")},
				"event_timestamp": at.Unix()}}), mark(revocation.MarkSession, "sess-1", at), "session_revoked revoked"},
		{"session-revoked, complex without format, user only", setClaims(map[string]any{
			caepPrefix + "session-revoked": map[string]any{"subject": map[string]any{"user": map[string]any{"format": "iss_sub", "iss": issuer, "sub": "user-1"}}}}),
			mark(revocation.MarkSubject, "user-1", testNow), "session_revoked revoked"},
		{"credential-change, email", setClaims(map[string]any{
			caepPrefix + "credential-change": map[string]any{"subject": map[string]any{"format": "email", "email": "a@acme.example"}}}),
			mark(revocation.MarkEmail, "a@acme.example", testNow), "credential_change revoked"},
		{"account-disabled, sub_id at the top, toe", func() map[string]any {
			c := setClaims(map[string]any{riscPrefix + "account-disabled": map[string]any{}})
			c["sub_id"] = opaque("user-2")
			c["toe"] = at.Unix()
			return c
		}(), mark(revocation.MarkSubject, "user-2", at), "account_disabled revoked"},
		{"account-purged, iss_sub", setClaims(map[string]any{
			riscPrefix + "account-purged": map[string]any{"subject": map[string]any{"format": "iss_sub", "iss": issuer, "sub": "user-3"}}}),
			mark(revocation.MarkSubject, "user-3", testNow), "account_purged revoked"},
		{"sessions-revoked, opaque", setClaims(map[string]any{
			riscPrefix + "sessions-revoked": map[string]any{"subject": opaque("user-4")}}),
			mark(revocation.MarkSubject, "user-4", testNow), "sessions_revoked revoked"},
		{"iss_sub of another issuer: ignored", setClaims(map[string]any{
			riscPrefix + "account-purged": map[string]any{"subject": map[string]any{"format": "iss_sub", "iss": "https://other.example", "sub": "user-3"}}}),
			nil, "account_purged ignored"},
		{"phone_number format: ignored", setClaims(map[string]any{
			riscPrefix + "account-disabled": map[string]any{"subject": map[string]any{"format": "phone_number", "phone_number": "+1"}}}),
			nil, "account_disabled ignored"},
		{"unknown type: accepted and counted", setClaims(map[string]any{
			"https://schemas.openid.net/secevent/caep/event-type/assurance-level-change": map[string]any{"subject": opaque("user-1")}}),
			nil, "other ignored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			w := f.postSET(t, sign(t, "secevent+jwt", tc.claims))
			if w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := f.marker.got()
			if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
				t.Errorf("marks %+v, want %+v", got, tc.want)
			}
			if f.counts.last() != "acme "+tc.count {
				t.Errorf("counted %q, want %q", f.counts.last(), tc.count)
			}
		})
	}
}

// TestSETRejections: each refusal is a 400 with its RFC 8935 err code and
// records nothing.
func TestSETRejections(t *testing.T) {
	valid := func() map[string]any {
		return setClaims(map[string]any{riscPrefix + "account-disabled": map[string]any{"subject": opaque("u")}})
	}
	for _, tc := range []struct {
		name string
		typ  string
		edit func(map[string]any)
		code string
	}{
		{"typ missing", "", func(map[string]any) {}, "invalid_key"},
		{"typ JWT", "JWT", func(map[string]any) {}, "invalid_key"},
		{"other issuer", "secevent+jwt", func(c map[string]any) { c["iss"] = issuer }, "invalid_issuer"},
		{"other audience", "secevent+jwt", func(c map[string]any) { c["aud"] = "https://other.example" }, "invalid_audience"},
		{"no jti", "secevent+jwt", func(c map[string]any) { delete(c, "jti") }, "invalid_request"},
		{"no iat", "secevent+jwt", func(c map[string]any) { delete(c, "iat") }, "invalid_request"},
		{"no events", "secevent+jwt", func(c map[string]any) { delete(c, "events") }, "invalid_request"},
		{"empty events", "secevent+jwt", func(c map[string]any) { c["events"] = map[string]any{} }, "invalid_request"},
		{"event not an object", "secevent+jwt", func(c map[string]any) { c["events"] = map[string]any{riscPrefix + "account-disabled": 1} }, "invalid_request"},
		{"handled event without subject", "secevent+jwt", func(c map[string]any) {
			c["events"] = map[string]any{riscPrefix + "account-disabled": map[string]any{}}
		}, "invalid_request"},
		{"opaque without id", "secevent+jwt", func(c map[string]any) {
			c["events"] = map[string]any{riscPrefix + "account-disabled": map[string]any{"subject": map[string]any{"format": "opaque"}}}
		}, "invalid_request"},
		{"event_timestamp a string", "secevent+jwt", func(c map[string]any) {
			c["events"] = map[string]any{riscPrefix + "account-disabled": map[string]any{"subject": opaque("u"), "event_timestamp": "x"}}
		}, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			c := valid()
			tc.edit(c)
			w := f.postSET(t, sign(t, tc.typ, c))
			if w.Code != http.StatusBadRequest || errorOf(t, w, "err") != tc.code || errorOf(t, w, "description") == "" {
				t.Fatalf("status %d, body %s; want 400 %s", w.Code, w.Body, tc.code)
			}
			if len(f.marker.got()) != 0 {
				t.Errorf("marks %v", f.marker.got())
			}
		})
	}
}

// TestSETReplay: a jti seen before is refused, across event types.
func TestSETReplay(t *testing.T) {
	f := newFixture(t, 0)
	set := sign(t, "secevent+jwt", setClaims(map[string]any{riscPrefix + "account-disabled": map[string]any{"subject": opaque("u")}}))
	if w := f.postSET(t, set); w.Code != http.StatusAccepted {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	if w := f.postSET(t, set); w.Code != http.StatusBadRequest || errorOf(t, w, "err") != "invalid_request" {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	if len(f.marker.got()) != 1 || f.counts.last() != "acme ssf replayed" {
		t.Errorf("marks %v, counted %q", f.marker.got(), f.counts.last())
	}
}
