package redistest_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// startSigned starts one instance of config(asURL, redisAddr) with
// redis.signing_key read from the environment.
func startSigned(t *testing.T, asURL, redisAddr string) *instance {
	t.Helper()
	return startInstance(t, strings.Replace(config(asURL, redisAddr), "  timeout: 50ms\n",
		"  timeout: 50ms\n  signing_key: \"${TG_TEST_CACHE_KEY}\"\n", 1))
}

// With redis.signing_key, an entry written straight into Redis for a token
// that was never issued allows nothing: the authorization server is asked
// (and says inactive). A tampered signed entry is ignored the same way; a
// valid one is a hit (issue 12, item 3).
func TestSignedReplicasIgnoreForgedEntries(t *testing.T) {
	t.Setenv("TG_TEST_CACHE_KEY", "redistest-cache-signing-key-0123456789")
	rs := redisserver.Start(t)
	as := introspectiontest.New(t)
	a, b := startSigned(t, as.URL, rs.Addr()), startSigned(t, as.URL, rs.Addr())
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	fp := cache.Fingerprint(introspection.Options{URL: as.URL + "/introspect", ClientID: "rs-acme"})
	entry := func(token string) string {
		return "tgtest:" + hex.EncodeToString([]byte(cache.Key("acme", fp, token)))
	}

	// Minted with redis-cli (or anything else that can write to Redis).
	forged := `{"active":true,"sub":"mallory","scope":"orders.read","token_type":"Bearer"}`
	if err := rc.Set(ctx, entry("never-issued"), forged, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	a.want(t, "never-issued", 401, "forged entry")
	if n := as.Calls("never-issued"); n != 1 {
		t.Fatalf("authorization server asked %d times, want 1", n)
	}
	if n := a.srv.Shared().Stats().Forged.Load(); n != 1 {
		t.Fatalf("forged = %d, want 1", n)
	}

	// A valid signed entry is a hit at the other replica.
	active(as, "tok-real", "user-1")
	a.want(t, "tok-real", 200, "tok-real at a")
	a.waitWrites(t, 2) // the inactive answer above, then this one
	b.want(t, "tok-real", 200, "tok-real at b")
	if hits, n := b.srv.Shared().Stats().Hits.Load(), as.Calls("tok-real"); hits != 1 || n != 1 {
		t.Fatalf("tok-real at b: %d hits, %d calls, want 1 and 1", hits, n)
	}

	// A signed entry, tampered with, is not: b asks, and the token has
	// since become inactive at the server.
	active(as, "tok-two", "user-2")
	a.want(t, "tok-two", 200, "tok-two at a")
	a.waitWrites(t, 3)
	as.Forget("tok-two")
	v := rc.Get(ctx, entry("tok-two")).Val()
	tampered := strings.Replace(v, `"sub":"user-2"`, `"sub":"user-3"`, 1)
	if !strings.HasPrefix(v, "tg1.") || tampered == v {
		t.Fatalf("stored %q", v)
	}
	rc.Set(ctx, entry("tok-two"), tampered, time.Hour)
	b.want(t, "tok-two", 401, "tampered entry")
	if n := as.Calls("tok-two"); n != 2 {
		t.Fatalf("tok-two: %d calls, want 2", n)
	}

	body := b.metrics(t)
	for _, want := range []string{`tokengate_shared_cache_lookups_total{result="forged"} 1`, `tokengate_shared_cache_lookups_total{result="hit"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(a.logs.String(), "entry without a valid signature") {
		t.Error("the forged entry was not logged")
	}
	for i, in := range []*instance{a, b} {
		if strings.Contains(in.logs.String(), "redistest-cache-signing-key") {
			t.Errorf("instance %d logged the signing key", i)
		}
	}
}
