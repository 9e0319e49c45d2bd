package introspection_test

// What the client makes of a 200 response's body: the size limit, the
// syntax it refuses and the claim values it reads.

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	padded := func(total int) string {
		const head, tail = `{"active":true,"pad":"`, `"}`
		return head + strings.Repeat("x", total-len(head)-len(tail)) + tail
	}
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"exactly 1 MiB", padded(introspection.MaxResponseBytes), true},
		{"1 MiB + 1", padded(introspection.MaxResponseBytes + 1), false},
		{"8 MiB", padded(8 << 20), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, res, err := introspectAt(t, introspectiontest.Reply(200, tc.body))
			if tc.ok {
				if err != nil || !res.Claims.Active {
					t.Fatalf("err = %v", err)
				}
				return
			}
			err = mustFail(t, res, err)
			if !strings.Contains(err.Error(), "larger than 1 MiB") {
				t.Errorf("error = %q", err)
			}
		})
	}
}

// A server that never stops sending is cut off at the limit, not at the
// timeout.
func TestEndlessBody(t *testing.T) {
	t.Parallel()
	as := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"active":true,"pad":"`)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	opts := options(as.URL)
	opts.Timeout = 5 * time.Second
	start := time.Now()
	err := mustRefuse(t, newClient(t, opts))
	if !strings.Contains(err.Error(), "larger than 1 MiB") || time.Since(start) > 2*time.Second {
		t.Errorf("after %v: error = %q, want the size limit to end the call", time.Since(start), err)
	}
}

// A body cut short by the connection (Content-Length promises more) is an
// error, and is not retried: the response had started.
func TestTruncatedResponse(t *testing.T) {
	t.Parallel()
	as, err := failAt(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"active":true,`)
	})
	if !strings.Contains(err.Error(), "reading the response failed") {
		t.Errorf("error = %q", err)
	}
	wantTotal(t, as, 1, "")
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", "empty body"},
		{"text", "OK", "not a JSON object"},
		{"html", "<html>hi</html>", "not a JSON object"},
		{"single quotes", "{'active':true}", "not a JSON object"},
		{"truncated", `{"active":tr`, "not a JSON object"},
		{"array", `[{"active":true}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"trailing data", `{"active":true} {"active":false}`, "data after"},
		{"no active", `{"sub":"x"}`, `"active"`},
		{"active string", `{"active":"true"}`, `"active"`},
		{"exp string", `{"active":true,"exp":"1700000000"}`, `"exp"`},
		{"nbf bool", `{"active":true,"nbf":true}`, `"nbf"`},
		{"aud numbers", `{"active":true,"aud":[1]}`, `"aud"`},
		{"aud object", `{"active":true,"aud":{"a":1}}`, `"aud"`},
		{"scope array", `{"active":true,"scope":["a","b"]}`, `"scope"`},
		{"scp string", `{"active":true,"scp":"a b"}`, `"scp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := failAt(t, introspectiontest.Reply(200, tc.body))
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "introspection failed: tenant acme: ") || strings.Count(err.Error(), "introspection failed") != 1 {
				t.Errorf("error = %q, want one prefix naming the tenant", err)
			}
			if se := (*introspection.StatusError)(nil); errors.As(err, &se) {
				t.Errorf("a 200 body problem is a StatusError: %q", err)
			}
		})
	}
}

func TestClaimValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		check func(*introspection.Claims) bool
	}{
		{"exp 1.7e9", `{"active":true,"exp":1.7e9}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1700000000, 0))
		}},
		{"exp fractional", `{"active":true,"exp":1700000000.5}`, func(c *introspection.Claims) bool {
			return c.Expiry.Equal(time.Unix(1700000000, 500_000_000))
		}},
		{"nulls absent", `{"active":true,"sub":null,"exp":null,"aud":null,"scope":null,"scp":["s"],"x":null}`, func(c *introspection.Claims) bool {
			_, hasSub := c.Raw["sub"]
			_, hasX := c.Raw["x"]
			return c.Subject == "" && c.Expiry.IsZero() && c.Audience == nil && !hasSub && !hasX &&
				slices.Equal(c.Scopes, []string{"s"})
		}},
		{"inactive", `{"active":false}`, func(c *introspection.Claims) bool { return !c.Active }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, res, err := introspectAt(t, introspectiontest.Reply(200, tc.body))
			if err != nil || !tc.check(res.Claims) {
				t.Errorf("claims = %+v", res.Claims)
			}
		})
	}
}
