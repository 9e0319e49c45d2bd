package events

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection/revocation"
)

// TestHandlerLimits: unknown tenants and endpoints 404, other methods 405,
// wrong content types 400, bodies over 64 KiB 413, the 101st event of a
// second 429, and a marker set that is full 503 (nothing dropped).
func TestHandlerLimits(t *testing.T) {
	f := newFixture(t, 2)
	for _, tc := range []struct {
		method, path, ctype, body string
		status                    int
	}{
		{"POST", "/events/other/ssf", "application/secevent+jwt", "x", 404},
		{"POST", "/events/acme/unknown", "application/secevent+jwt", "x", 404},
		{"GET", "/events/acme/ssf", "", "", 405},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.ctype)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
	}
	r := httptest.NewRequest("POST", "/events/acme/ssf", strings.NewReader("x.y.z"))
	r.Header.Set("Content-Type", "application/jwt")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || errorOf(t, w, "err") != "invalid_request" {
		t.Errorf("wrong content type: %d %s", w.Code, w.Body)
	}
	if w := f.postSET(t, strings.Repeat("a", MaxBodyBytes+1)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", w.Code)
	}
	if w := f.postSET(t, "a"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("third event within the second: %d", w.Code)
	}
	if f.counts.last() != "acme ssf limited" {
		t.Errorf("counted %q", f.counts.last())
	}
}

// TestHandlerMarkerFull: a marker that cannot be recorded is a 503, so
// the sender retries.
func TestHandlerMarkerFull(t *testing.T) {
	f := newFixture(t, 0)
	f.marker.err = revocation.ErrMarkersFull
	if w := f.postLogout(t, sign(t, "", logoutClaims())); w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d: %s", w.Code, w.Body)
	}
}
