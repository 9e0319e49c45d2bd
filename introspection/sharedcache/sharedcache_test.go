package sharedcache_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/introspection/sharedstore/redisstore"
	"github.com/tokengate/tokengate/introspection/tokenid"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// setClaims makes as answer token with claims, parsed as the client would.
func setClaims(as *introspectiontest.Introspector, token string, claims map[string]any) {
	b, err := json.Marshal(claims)
	if err == nil {
		var c *introspection.Claims
		if c, err = introspection.ParseClaims(b); err == nil {
			as.Answer(token, introspection.Result{Claims: c, Cache: introspection.CacheNone})
			return
		}
	}
	panic(err)
}

const prefix = "tgtest:"

func newShared(t *testing.T, addr string) *sharedcache.Shared {
	t.Helper()
	return newSharedWith(t, addr, sharedcache.Options{Timeout: 50 * time.Millisecond})
}

// newSharedWith is a Shared with o on its own Redis store at addr.
func newSharedWith(t *testing.T, addr string, o sharedcache.Options) *sharedcache.Shared {
	t.Helper()
	o.Store = newStore(t, addr, o.Timeout)
	return sharedcache.New(o)
}

// newStore is a Redis store at addr, closed when the test ends.
func newStore(t *testing.T, addr string, timeout time.Duration) *redisstore.Store {
	t.Helper()
	st := redisstore.New(redisstore.NewClient(redisstore.ClientOptions{Address: addr, Timeout: timeout}), prefix)
	t.Cleanup(func() { st.Close() })
	return st
}

func rawClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func entryKey(tenant, token string) string {
	return prefix + hex.EncodeToString([]byte(cache.Key(tenant, "", token)))
}

var acme = sharedcache.Tenant{Name: "acme", MaxTTL: 5 * time.Minute, NegativeTTL: 7 * time.Second}

func TestSharedHitAcrossInstancesAndTTLs(t *testing.T) {
	srv := redisserver.Start(t)
	rc := rawClient(t, srv.Addr())
	ctx := context.Background()
	as := introspectiontest.NewIntrospector()
	exp := time.Now().Add(3 * time.Second)
	setClaims(as, "tok-a", map[string]any{"active": true, "sub": "user-1", "exp": exp.Unix(), "scope": "a b", "org_id": "o-9"})

	one, two := newShared(t, srv.Addr()), newShared(t, srv.Addr())
	d1, d2 := one.Middleware(acme)(as), two.Middleware(acme)(as)

	res, err := d1.Introspect(ctx, "tok-a")
	if err != nil || !res.Claims.Active {
		t.Fatalf("first: %v %+v", err, res.Claims)
	}
	testsupport.WaitFor(t, 3*time.Second, "the write", func() bool { return one.Stats().Writes.Load() == 1 })
	res, err = d2.Introspect(ctx, "tok-a")
	if err != nil || !res.Claims.Active || res.Claims.Subject != "user-1" || string(res.Claims.Raw["org_id"]) != `"o-9"` {
		t.Fatalf("second: %v %+v", err, res.Claims)
	}
	if n := as.Total(); n != 1 {
		t.Fatalf("authorization server called %d times, want 1", n)
	}
	if two.Stats().Hits.Load() != 1 {
		t.Fatalf("hits = %d", two.Stats().Hits.Load())
	}
	// Positive lifetime: ≤ exp - now (exp is in whole seconds).
	ttl := rc.PTTL(ctx, entryKey("acme", "tok-a")).Val()
	if ttl <= 0 || ttl > time.Until(exp)+time.Second {
		t.Fatalf("positive TTL %v, exp in %v", ttl, time.Until(exp))
	}
	// The other tenant does not see it.
	globex := sharedcache.Tenant{Name: "globex", MaxTTL: time.Minute, NegativeTTL: time.Second}
	if _, err := two.Middleware(globex)(as).Introspect(ctx, "tok-a"); err != nil || as.Total() != 2 {
		t.Fatalf("globex: %v, calls %d", err, as.Total())
	}
}

func TestSharedLifetimes(t *testing.T) {
	srv := redisserver.Start(t)
	rc := rawClient(t, srv.Addr())
	ctx := context.Background()
	as := introspectiontest.NewIntrospector()
	sh := newShared(t, srv.Addr())
	short := sharedcache.Tenant{Name: "acme", MaxTTL: 10 * time.Second, NegativeTTL: 7 * time.Second}
	d := sh.Middleware(short)(as)

	// max_ttl bounds a long-lived token.
	setClaims(as, "long", map[string]any{"active": true, "exp": time.Now().Add(time.Hour).Unix()})
	// negative_ttl for active:false ("inactive" has no answer: active false).
	// An already expired token is not stored.
	setClaims(as, "expired", map[string]any{"active": true, "exp": time.Now().Add(-time.Minute).Unix()})
	// An error is never stored.
	as.Fail("broken", fmt.Errorf("%w: boom", introspection.ErrIntrospection))

	for _, tok := range []string{"long", "inactive", "expired"} {
		if _, err := d.Introspect(ctx, tok); err != nil {
			t.Fatal(tok, err)
		}
	}
	if _, err := d.Introspect(ctx, "broken"); !errors.Is(err, introspection.ErrIntrospection) {
		t.Fatalf("broken: %v", err)
	}
	testsupport.WaitFor(t, 3*time.Second, "two writes", func() bool { return sh.Stats().Writes.Load() == 2 })
	time.Sleep(50 * time.Millisecond) // would-be writes of the others

	if ttl := rc.PTTL(ctx, entryKey("acme", "long")).Val(); ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Fatalf("max_ttl-bound TTL = %v, want (9s, 10s]", ttl)
	}
	if ttl := rc.PTTL(ctx, entryKey("acme", "inactive")).Val(); ttl <= 6*time.Second || ttl > 7*time.Second {
		t.Fatalf("negative TTL = %v, want (6s, 7s]", ttl)
	}
	for _, tok := range []string{"expired", "broken"} {
		if n := rc.Exists(ctx, entryKey("acme", tok)).Val(); n != 0 {
			t.Fatalf("%s is stored", tok)
		}
	}
	// The stored value is the claims' JSON.
	body := rc.Get(ctx, entryKey("acme", "inactive")).Val()
	if body != `{"active":false}` {
		t.Fatalf("stored %q", body)
	}
}

func TestRevokeMarksAndEvicts(t *testing.T) {
	srv := redisserver.Start(t)
	rc := rawClient(t, srv.Addr())
	ctx := context.Background()
	as := introspectiontest.NewIntrospector()
	iat := time.Now().Add(-time.Minute).Unix()
	setClaims(as, "tok-1", map[string]any{"active": true, "sub": "user-1", "iat": iat, "exp": time.Now().Add(time.Hour).Unix()})
	setClaims(as, "tok-2", map[string]any{"active": true, "sub": "user-1", "iat": iat, "exp": time.Now().Add(time.Hour).Unix()})
	setClaims(as, "tok-3", map[string]any{"active": true, "sub": "user-3", "iat": iat, "exp": time.Now().Add(time.Hour).Unix()})

	// Two replicas, each with a local store in front.
	type replica struct {
		sh    *sharedcache.Shared
		rv    *revocation.Revoker
		store *cache.Store
		c     introspection.Introspector
	}
	mk := func() replica {
		shared := newStore(t, srv.Addr(), 50*time.Millisecond)
		rv := revocation.New(revocation.Options{Store: shared})
		t.Cleanup(rv.Close)
		sh := sharedcache.New(sharedcache.Options{Store: shared, Timeout: 50 * time.Millisecond, IndexTTL: rv.MarkerTTL})
		st := cache.NewStore(cache.Options{Tenant: "acme", MaxTTL: 5 * time.Minute, NegativeTTL: 7 * time.Second, MaxEntries: 100})
		rv.SetStores(map[string]*cache.Store{"acme": st})
		return replica{sh, rv, st, introspection.Chain(as, st.Middleware(time.Second), sh.Middleware(acme))}
	}
	a, b := mk(), mk()
	for _, tok := range []string{"tok-1", "tok-2", "tok-3"} {
		if _, err := a.c.Introspect(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.WaitFor(t, 3*time.Second, "writes", func() bool { return a.sh.Stats().Writes.Load() == 3 })
	for _, tok := range []string{"tok-1", "tok-2", "tok-3"} {
		if res, err := b.c.Introspect(ctx, tok); err != nil || !res.Claims.Active {
			t.Fatal(tok, err)
		}
	}
	if as.Total() != 3 || b.store.Len() != 3 {
		t.Fatalf("calls %d, b holds %d", as.Total(), b.store.Len())
	}
	srv.WaitSubscribers(t, prefix+"revocations", 2)

	// By sub, through a: both user-1 tokens, locally and in Redis.
	n, err := a.rv.Revoke(ctx, revocation.Request{Tenant: "acme", Sub: "user-1"})
	if err != nil || n != 2 {
		t.Fatalf("revoke sub: %d %v", n, err)
	}
	testsupport.WaitFor(t, 3*time.Second, "b's eviction", func() bool { return b.store.Len() == 1 })
	if rc.Exists(ctx, entryKey("acme", "tok-1"), entryKey("acme", "tok-2")).Val() != 0 {
		t.Fatal("entries still in Redis")
	}
	for _, r := range []replica{a, b} {
		res, err := r.c.Introspect(ctx, "tok-1")
		if err != nil || res.Claims.Active {
			t.Fatalf("tok-1 after revocation: %v %+v", err, res.Claims)
		}
	}
	// A token of user-1 issued after the revocation is fine.
	setClaims(as, "tok-new", map[string]any{"active": true, "sub": "user-1", "iat": time.Now().Add(2 * time.Second).Unix()})
	if res, err := b.c.Introspect(ctx, "tok-new"); err != nil || !res.Claims.Active {
		t.Fatalf("new token: %v", err)
	}

	// By token_id, through b.
	n, err = b.rv.Revoke(ctx, revocation.Request{TokenID: tokenid.Of("tok-3")})
	if err != nil || n != 1 {
		t.Fatalf("revoke token_id: %d %v", n, err)
	}
	testsupport.WaitFor(t, 3*time.Second, "a's eviction", func() bool { return len(a.store.KeysByTokenID(tokenid.Of("tok-3"))) == 0 })
	if res, _ := a.c.Introspect(ctx, "tok-3"); res.Claims.Active {
		t.Fatal("tok-3 still active")
	}
	if a.sh.Stats().Revoked.Load() == 0 {
		t.Fatal("no lookup answered by a marker")
	}
	// The marker lives max_ttl.
	if ttl := rc.PTTL(ctx, prefix+"revoked:id:"+tokenid.Of("tok-3")).Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("marker TTL %v", ttl)
	}

	// Invalid requests.
	for _, r := range []revocation.Request{{}, {Token: "x", TokenID: "0123456789ab"}, {TokenID: "XYZ"}, {Sub: "u"}, {Tenant: "nope", Sub: "u"}} {
		if _, err := a.rv.Revoke(ctx, r); !errors.Is(err, revocation.ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestRedisDownIsAMissAndBreakerSkips(t *testing.T) {
	srv := redisserver.Start(t)
	ctx := context.Background()
	as := introspectiontest.NewIntrospector()
	setClaims(as, "tok", map[string]any{"active": true, "exp": time.Now().Add(time.Hour).Unix()})
	sh := newShared(t, srv.Addr())
	d := sh.Middleware(acme)(as)
	srv.Kill()
	for i := range 10 {
		res, err := d.Introspect(ctx, "tok")
		if err != nil || !res.Claims.Active {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st := sh.Stats()
	if st.Errors.Load() < int64(sharedcache.DefaultBreakerThreshold) || st.Skipped.Load() == 0 {
		t.Fatalf("errors %d skipped %d", st.Errors.Load(), st.Skipped.Load())
	}
	if as.Total() != 10 {
		t.Fatalf("calls %d", as.Total())
	}
}
