package redistest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// Two deployments share one Redis (same key prefix) and name their tenant
// alike, but ask different authorization servers: a token server A calls
// active is not allowed through B's replica without asking B (issue 12,
// item 2). Revocation by token, made at B, still finds A's entries.
func TestSameTenantNameOtherServerSharesNothing(t *testing.T) {
	rs := redisserver.Start(t)
	asA, asB := introspectiontest.New(t), introspectiontest.New(t)
	active(asA, "tok-a", "user-1") // B has never heard of it
	a := startInstances(t, 1, asA.URL, rs)[0]
	b := startInstances(t, 1, asB.URL, rs)[0]

	a.want(t, "tok-a", 200, "at A")
	a.waitWrites(t, 1)
	b.want(t, "tok-a", 401, "at B (B says inactive)")
	if n := asB.Calls("tok-a"); n != 1 {
		t.Fatalf("B's server was asked %d times, want 1", n)
	}
	if hits := b.srv.Shared().Stats().Hits.Load(); hits != 0 {
		t.Fatalf("B had %d Redis hits", hits)
	}

	// Revoking the token at B (which never cached it as active) evicts A's
	// entry in Redis and in A's local cache, and A denies it from now on.
	code, body := b.revoke(t, adminToken, `{"token":"tok-a"}`)
	var got struct{ Evicted int }
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Evicted < 1 {
		t.Fatalf("revoke at B: %d %s", code, body)
	}
	deadline := time.Now().Add(time.Second)
	for {
		code, _ := a.check(t, "tok-a")
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A still answers %d after the revocation", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
