package sharedcache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

const signingKey = "0123456789abcdef0123456789abcdef-test"

func newSignedShared(t *testing.T, addr, key string, now func() time.Time) *sharedcache.Shared {
	t.Helper()
	return newSharedWith(t, addr, sharedcache.Options{Timeout: 200 * time.Millisecond, SigningKey: []byte(key), Now: now})
}

// With a signing key, only entries signed with it, for their own key name,
// are trusted: anyone who can write to Redis cannot mint an allow (issue
// 12, item 3). Every other entry is a miss, counted as forged, and the
// authorization server's answer replaces it.
func TestSignedEntriesOnly(t *testing.T) {
	srv := redisserver.Start(t)
	rc := rawClient(t, srv.Addr())
	ctx := context.Background()
	as := introspectiontest.NewIntrospector()
	setClaims(as, "tok-a", map[string]any{"active": true, "sub": "user-1", "scope": "read", "exp": time.Now().Add(time.Hour).Unix()})

	writer := newSignedShared(t, srv.Addr(), signingKey, nil)
	if res, err := writer.Middleware(acme)(as).Introspect(ctx, "tok-a"); err != nil || !res.Claims.Active {
		t.Fatalf("writer: %v", err)
	}
	testsupport.WaitFor(t, 3*time.Second, "the write", func() bool { return writer.Stats().Writes.Load() == 1 })
	signed := rc.Get(ctx, entryKey("acme", "tok-a")).Val()
	if !strings.HasPrefix(signed, "tg1.") || !strings.HasSuffix(signed, `"sub":"user-1"}`) {
		t.Fatalf("stored %q, want a signed entry", signed)
	}

	// A valid signed entry is a hit at another replica.
	reader := newSignedShared(t, srv.Addr(), signingKey, nil)
	d := reader.Middleware(acme)(as)
	if res, err := d.Introspect(ctx, "tok-a"); err != nil || !res.Claims.Active || res.Claims.Subject != "user-1" {
		t.Fatalf("valid signed entry: %v %+v", err, res.Claims)
	}
	if reader.Stats().Hits.Load() != 1 || as.Total() != 1 {
		t.Fatalf("hits %d, calls %d", reader.Stats().Hits.Load(), as.Total())
	}

	otherKey := newSignedShared(t, srv.Addr(), strings.Repeat("k", 32), nil)
	setClaims(as, "tok-b", map[string]any{"active": true, "sub": "user-2", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := otherKey.Middleware(acme)(as).Introspect(ctx, "tok-b"); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, 3*time.Second, "the other key's write", func() bool { return otherKey.Stats().Writes.Load() == 1 })

	past := func() time.Time { return time.Now().Add(-time.Hour) }
	old := newSignedShared(t, srv.Addr(), signingKey, past)
	setClaims(as, "tok-c", map[string]any{"active": true, "sub": "user-3", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := old.Middleware(acme)(as).Introspect(ctx, "tok-c"); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, 3*time.Second, "the old write", func() bool { return old.Stats().Writes.Load() == 1 })

	forgeries := []struct {
		name, token, value string
		active             bool // what the authorization server says
	}{
		{"unsigned, never issued", "never-issued", `{"active":true,"sub":"mallory","scope":"read"}`, false},
		{"signature of another key", "tok-b", rc.Get(ctx, entryKey("acme", "tok-b")).Val(), true},
		{"tampered claims", "tok-a", strings.Replace(signed, `"sub":"user-1"`, `"sub":"admin-0"`, 1), true},
		{"moved to another token's key", "never-issued-2", signed, false},
		{"malformed", "never-issued-3", "tg1.x.y", false},
		{"expired an hour ago, written back", "tok-c", rc.Get(ctx, entryKey("acme", "tok-c")).Val(), true},
	}
	for i, f := range forgeries {
		if err := rc.Set(ctx, entryKey("acme", f.token), f.value, 0).Err(); err != nil {
			t.Fatal(err)
		}
		calls := as.Total()
		res, err := d.Introspect(ctx, f.token)
		if err != nil || res.Claims.Active != f.active || (f.active && strings.Contains(string(res.Claims.Raw["sub"]), "admin")) {
			t.Fatalf("%s: %v %+v, want the authorization server's answer", f.name, err, res.Claims)
		}
		if as.Total() != calls+1 {
			t.Fatalf("%s: the authorization server was not asked", f.name)
		}
		if n := reader.Stats().Forged.Load(); n != int64(i+1) {
			t.Fatalf("%s: forged = %d, want %d", f.name, n, i+1)
		}
		// The answer, signed, replaces the forgery.
		testsupport.WaitFor(t, 3*time.Second, f.name+": the forgery replaced", func() bool {
			v := rc.Get(ctx, entryKey("acme", f.token)).Val()
			return v != f.value && strings.HasPrefix(v, "tg1.")
		})
	}
	if reader.Stats().Hits.Load() != 1 {
		t.Fatalf("hits = %d, want 1", reader.Stats().Hits.Load())
	}

	// A replica without a key keeps reading plain JSON, and takes a signed
	// entry for unreadable (a miss), never for claims.
	plain := newShared(t, srv.Addr())
	calls := as.Total()
	if res, err := plain.Middleware(acme)(as).Introspect(ctx, "tok-a"); err != nil || !res.Claims.Active {
		t.Fatalf("unsigned replica: %v", err)
	}
	if as.Total() != calls+1 || plain.Stats().Forged.Load() != 0 {
		t.Fatalf("unsigned replica: calls %d, forged %d", as.Total()-calls, plain.Stats().Forged.Load())
	}
}
