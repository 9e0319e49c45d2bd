package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

const adminToken = "e2e-admin-token-0123456789abcdefghijklmnop" // >= 32 characters

// replica is one tokengate of a Redis-sharing pair, with its admin address.
type replica struct {
	*proc
	admin string
}

func startReplica(t *testing.T, asURL, redisAddr string) replica {
	t.Helper()
	admin := testsupport.FreeAddr(t)
	c := cfg{as: asURL, extra: fmt.Sprintf(`redis:
  address: %q
  key_prefix: "e2e:"
  timeout: 200ms
admin:
  address: %q
  token: "${E2E_ADMIN_TOKEN}"
`, redisAddr, admin)}
	p := startServe(t, c.write(t), serveOpts{env: append([]string{"E2E_ADMIN_TOKEN=" + adminToken}, acmeEnv...)})
	return replica{proc: p, admin: admin}
}

func (r replica) revoke(t *testing.T, auth, body string) (int, string) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	code, _, b := httpDo(t, "POST", "http://"+r.admin+"/revoke", h, body)
	return code, strings.TrimSpace(b)
}

// TestRedisSharedCacheAndAdminRevoke: two replicas share one real
// redis-server; a token introspected by A is served by B from Redis, and
// POST /revoke on A's admin listener evicts it everywhere.
func TestRedisSharedCacheAndAdminRevoke(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	as := newAS(t)
	const tok = "tok-shared-e2e"
	as.Claims(tok, goodClaims(nil))
	a, b := startReplica(t, as.URL, rs.Addr()), startReplica(t, as.URL, rs.Addr())
	rs.WaitSubscribers(t, "e2e:revocations", 2) // both replicas hear revocations

	if ans := a.check(t, req{auth: bearer(tok)}); !ans.allow {
		t.Fatalf("replica A: %d %v", ans.status, ans.body)
	}
	testsupport.WaitFor(t, 5*time.Second, "replica A's entry in Redis", func() bool {
		n, err := rs.Reply("DBSIZE")
		v, _ := strconv.Atoi(n)
		return err == nil && v >= 1
	})
	if ans := b.check(t, req{auth: bearer(tok)}); !ans.allow || ans.set["x-auth-subject"] != "user-1" {
		t.Fatalf("replica B: %d %v, set %v", ans.status, ans.body, ans.set)
	}
	if n := as.Calls(tok); n != 1 {
		t.Fatalf("the authorization server was called %d times, want 1 (B reads A's answer from Redis)", n)
	}

	// The admin API needs its token.
	for _, auth := range []string{"", "Bearer wrong-token-wrong-token-wrong-token", "Basic " + adminToken} {
		if code, body := a.revoke(t, auth, fmt.Sprintf(`{"token":%q}`, tok)); code != 401 {
			t.Errorf("POST /revoke with Authorization %q: %d %s, want 401", auth, code, body)
		}
	}
	if ans := b.check(t, req{auth: bearer(tok)}); !ans.allow || as.Calls(tok) != 1 {
		t.Fatalf("after refused revocations: %d, calls %d", ans.status, as.Calls(tok))
	}

	// The authorization server revokes the token; the admin call makes every
	// replica forget it at once instead of after max_ttl.
	as.Claims(tok, map[string]any{"active": false})
	code, body := a.revoke(t, "Bearer "+adminToken, fmt.Sprintf(`{"token":%q}`, tok))
	var got struct {
		Evicted *int `json:"evicted"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Evicted == nil || *got.Evicted < 1 {
		t.Fatalf("POST /revoke: %d %s, want 200 {\"evicted\": N>=1}", code, body)
	}
	testsupport.WaitFor(t, 3*time.Second, "replica B to answer 401 after the revocation", func() bool {
		return b.check(t, req{auth: bearer(tok)}).status == 401
	})
	if ans := a.check(t, req{auth: bearer(tok)}); ans.status != 401 {
		t.Errorf("replica A after the revocation: %d, want 401", ans.status)
	}
	t.Logf("authorization server calls for the token: %d", as.Calls(tok))

	// By token_id too, for a token the logs named.
	const tok2 = "tok-shared-e2e-2"
	as.Claims(tok2, goodClaims(nil))
	if ans := b.check(t, req{auth: bearer(tok2)}); !ans.allow {
		t.Fatalf("tok2: %d", ans.status)
	}
	as.Claims(tok2, map[string]any{"active": false})
	code, body = b.revoke(t, "Bearer "+adminToken, fmt.Sprintf(`{"token_id":%q}`, tokenID(tok2)))
	if code != 200 || !strings.Contains(body, `"evicted"`) {
		t.Fatalf("POST /revoke by token_id: %d %s", code, body)
	}
	testsupport.WaitFor(t, 3*time.Second, "tok2 denied on replica A", func() bool { return a.check(t, req{auth: bearer(tok2)}).status == 401 })

	// By subject: every cached token of the tenant's user-1, on every replica.
	const tok3 = "tok-shared-e2e-3"
	as.Claims(tok3, goodClaims(nil))
	for _, r := range []replica{a, b} {
		if ans := r.check(t, req{auth: bearer(tok3)}); !ans.allow {
			t.Fatalf("tok3: %d", ans.status)
		}
	}
	as.Claims(tok3, map[string]any{"active": false})
	code, body = a.revoke(t, "Bearer "+adminToken, `{"tenant":"acme","sub":"user-1"}`)
	if code != 200 || !strings.Contains(body, `"evicted"`) {
		t.Fatalf("POST /revoke by subject: %d %s", code, body)
	}
	testsupport.WaitFor(t, 3*time.Second, "tok3 denied on replica B", func() bool { return b.check(t, req{auth: bearer(tok3)}).status == 401 })

	for _, r := range []replica{a, b} {
		if out := r.stderr.String(); strings.Contains(out, tok) || strings.Contains(out, adminToken) {
			t.Errorf("a replica logged the token or the admin token")
		}
	}
}
