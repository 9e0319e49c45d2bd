package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection/revocation"
)

type fakeRevoker struct {
	got []revocation.Request
	n   int
	err error
}

func (f *fakeRevoker) Revoke(_ context.Context, r revocation.Request) (int, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	f.got = append(f.got, r)
	return f.n, f.err
}

func TestRevoke(t *testing.T) {
	rv := &fakeRevoker{n: 2}
	h := New("adm1n-secret-0123456789abcdefghij", rv, nil)
	do := func(auth, method, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/revoke", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic adm1n-secret-0123456789abcdefghij", "Bearer adm1n-secret-0123456789abcdefghij2", "Bearer"} {
		if w := do(auth, "POST", `{"token":"t"}`); w.Code != http.StatusUnauthorized {
			t.Errorf("auth %q: %d", auth, w.Code)
		}
	}
	if len(rv.got) != 0 {
		t.Fatal("revoked without the admin token")
	}
	cases := []struct {
		body string
		code int
		want string
	}{
		{`{"token":"abc"}`, 200, `{"evicted":2}`},
		{`{"token_id":"0123456789ab"}`, 200, `{"evicted":2}`},
		{`{"tenant":"acme","sub":"user-1"}`, 200, `{"evicted":2}`},
		{`{"token_id":"0123"}`, 400, "invalid_request"},
		{`{"tenant":"acme"}`, 400, "invalid_request"},
		{`{}`, 400, "invalid_request"},
		{`{"token":"a","token_id":"0123456789ab"}`, 400, "invalid_request"},
		{`{"tok":"a"}`, 400, "invalid_request"},
		{`not json`, 400, "invalid_request"},
		{`{"token":"a"}{"token":"b"}`, 400, "invalid_request"},
	}
	for _, c := range cases {
		w := do("bearer adm1n-secret-0123456789abcdefghij", "POST", c.body)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s", c.body, w.Code, w.Body)
		}
	}
	if len(rv.got) != 3 {
		t.Fatalf("revocations %d", len(rv.got))
	}
	if w := do("Bearer adm1n-secret-0123456789abcdefghij", "GET", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
	rv.err = fmt.Errorf("%w: down", revocation.ErrUnavailable)
	if w := do("Bearer adm1n-secret-0123456789abcdefghij", "POST", `{"token":"x"}`); w.Code != 503 || !strings.Contains(w.Body.String(), `"evicted":2`) {
		t.Errorf("unavailable: %d %s", w.Code, w.Body)
	}
	if New("", rv, nil).authorized(httptest.NewRequest("POST", "/revoke", nil)) {
		t.Error("empty admin token authorizes")
	}
	// Issue 12, item 10: a short token refuses every call, even its own.
	short := strings.Repeat("x", MinTokenLength-1)
	req := httptest.NewRequest("POST", "/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+short)
	if New(short, rv, nil).authorized(req) {
		t.Errorf("a %d-character admin token authorizes", len(short))
	}
}
