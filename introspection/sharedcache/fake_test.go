package sharedcache_test

// The shared cache's logic on the in-memory store (sharedstoretest): no
// Redis, no sleeps, the clock injected. Shared.Close waits for the
// background writes, so what was written is checked after it.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/introspection/sharedstore/sharedstoretest"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// key is the store key of token at tenant acme.
func key(token string) string { return hex.EncodeToString([]byte(cache.Key("acme", "", token))) }

// onFake is a Shared with o on store, its clock that of store.
func onFake(t *testing.T, store sharedstore.Entries, clock *sharedstoretest.Clock, o sharedcache.Options) *sharedcache.Shared {
	t.Helper()
	o.Store, o.Now = store, clock.Now
	sh := sharedcache.New(o)
	t.Cleanup(sh.Close)
	return sh
}

func newFakeStore() (*sharedstoretest.Store, *sharedstoretest.Clock) {
	clock := sharedstoretest.NewClock(t0)
	return sharedstoretest.New(clock.Now), clock
}

func at(d time.Duration) int64 { return t0.Add(d).Unix() }

func TestFakeLifetimesAndIndexes(t *testing.T) {
	store, clock := newFakeStore()
	sh := onFake(t, store, clock, sharedcache.Options{IndexTTL: func() time.Duration { return 5 * time.Minute }})
	as := introspectiontest.NewIntrospector()
	setClaims(as, "long", map[string]any{"active": true, "sub": "user-1", "exp": at(time.Hour)})
	setClaims(as, "short", map[string]any{"active": true, "exp": at(3 * time.Second)})
	setClaims(as, "expired", map[string]any{"active": true, "exp": at(-time.Minute)})
	setClaims(as, "session", map[string]any{"active": true, "sid": "s1", "email": "a@example.com", "exp": at(time.Hour)})
	setClaims(as, "dated", map[string]any{"active": true, "sid": "s1", "iat": at(0), "exp": at(time.Hour)})
	as.Fail("broken", fmt.Errorf("%w: boom", introspection.ErrIntrospection))
	// "inactive" has no answer: active false.
	short := sharedcache.Tenant{Name: "acme", MaxTTL: 10 * time.Second, NegativeTTL: 7 * time.Second}
	d := sh.Middleware(short)(as)
	ctx := context.Background()
	for _, tok := range []string{"long", "short", "inactive", "expired", "session", "dated"} {
		if _, err := d.Introspect(ctx, tok); err != nil {
			t.Fatal(tok, err)
		}
	}
	if _, err := d.Introspect(ctx, "broken"); !errors.Is(err, introspection.ErrIntrospection) {
		t.Fatalf("broken: %v", err)
	}
	sh.Close()

	for tok, want := range map[string]time.Duration{"long": 10 * time.Second, "short": 3 * time.Second, "inactive": 7 * time.Second} {
		if _, ttl, ok := store.Raw(key(tok)); !ok || ttl != want {
			t.Errorf("%s: stored %v with TTL %v, want %v", tok, ok, ttl, want)
		}
	}
	for _, tok := range []string{"expired", "broken"} {
		if _, _, ok := store.Raw(key(tok)); ok {
			t.Errorf("%s is stored", tok)
		}
	}
	if v, _, _ := store.Raw(key("inactive")); string(v) != `{"active":false}` {
		t.Errorf("stored %q", v)
	}
	if n := sh.Stats().Writes.Load(); n != 5 {
		t.Errorf("writes = %d, want 5", n)
	}
	// Active answers are indexed for revocations, as long as the markers
	// live; inactive ones are not.
	byID := store.Index(sharedstore.Target{TokenID: tokenid.Of("long")})
	bySub := store.Index(sharedstore.Target{Subject: sharedstore.Subject{Tenant: "acme", Sub: "user-1"}})
	if byID[key("long")] != 5*time.Minute || bySub[key("long")] != 5*time.Minute {
		t.Errorf("indexes of long: %v %v", byID, bySub)
	}
	if len(store.Index(sharedstore.Target{TokenID: tokenid.Of("inactive")})) != 0 {
		t.Error("an inactive answer is indexed")
	}
	// Answers without iat are indexed by their sid and email too.
	for _, u := range []sharedstore.Subject{{Tenant: "acme", Sub: "s1", UndatedClaim: "sid"}, {Tenant: "acme", Sub: "a@example.com", UndatedClaim: "email"}} {
		if got := store.Index(sharedstore.Target{Subject: u}); len(got) != 1 || got[key("session")] != 5*time.Minute {
			t.Errorf("undated index %+v: %v", u, got)
		}
	}
}

func TestFakeHitAcrossReplicasNotTenants(t *testing.T) {
	store, clock := newFakeStore()
	as := introspectiontest.NewIntrospector()
	setClaims(as, "tok", map[string]any{"active": true, "sub": "user-1", "exp": at(time.Hour), "org_id": "o-9"})
	writer := onFake(t, store, clock, sharedcache.Options{})
	if _, err := writer.Middleware(acme)(as).Introspect(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	writer.Close()

	reader := onFake(t, store, clock, sharedcache.Options{})
	res, err := reader.Middleware(acme)(as).Introspect(context.Background(), "tok")
	if err != nil || !res.Claims.Active || string(res.Claims.Raw["org_id"]) != `"o-9"` || res.Cache != introspection.CacheNone {
		t.Fatalf("reader: %v %+v", err, res)
	}
	if as.Total() != 1 || reader.Stats().Hits.Load() != 1 || writer.Stats().Misses.Load() != 1 {
		t.Fatalf("calls %d, hits %d, misses %d", as.Total(), reader.Stats().Hits.Load(), writer.Stats().Misses.Load())
	}
	globex := sharedcache.Tenant{Name: "globex", MaxTTL: time.Minute, NegativeTTL: time.Second}
	if _, err := reader.Middleware(globex)(as).Introspect(context.Background(), "tok"); err != nil || as.Total() != 2 {
		t.Fatalf("globex: %v, calls %d", err, as.Total())
	}
}

func TestFakeSignedEntries(t *testing.T) {
	store, clock := newFakeStore()
	as := introspectiontest.NewIntrospector()
	ctx := context.Background()
	setClaims(as, "tok-a", map[string]any{"active": true, "sub": "user-1", "exp": at(time.Hour)})
	signed := func() *sharedcache.Shared {
		return onFake(t, store, clock, sharedcache.Options{SigningKey: []byte(signingKey)})
	}
	writer := signed()
	if _, err := writer.Middleware(acme)(as).Introspect(ctx, "tok-a"); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	value, _, _ := store.Raw(key("tok-a"))
	if !bytes.HasPrefix(value, []byte("tg1.")) {
		t.Fatalf("stored %q, want a signed entry", value)
	}

	reader := signed()
	reader.Close() // it writes nothing back: the test sets every entry
	d := reader.Middleware(acme)(as)
	if res, err := d.Introspect(ctx, "tok-a"); err != nil || !res.Claims.Active || reader.Stats().Hits.Load() != 1 {
		t.Fatalf("a valid signed entry: %v", err)
	}
	otherKey := onFake(t, store, clock, sharedcache.Options{SigningKey: []byte(strings.Repeat("k", 32))})
	setClaims(as, "tok-b", map[string]any{"active": true, "exp": at(time.Hour)})
	if _, err := otherKey.Middleware(acme)(as).Introspect(ctx, "tok-b"); err != nil {
		t.Fatal(err)
	}
	otherKey.Close()
	ofOtherKey, _, _ := store.Raw(key("tok-b"))

	for _, f := range []struct{ name, token, value string }{
		{"unsigned", "never-1", `{"active":true,"sub":"mallory"}`},
		{"signed with another key", "tok-b", string(ofOtherKey)},
		{"tampered", "tok-a", strings.Replace(string(value), "user-1", "admin-0", 1)},
		{"moved to another token's key", "never-2", string(value)},
		{"malformed", "never-3", "tg1.x.y"},
	} {
		store.SetRaw(key(f.token), []byte(f.value), time.Hour)
		forged, calls := reader.Stats().Forged.Load(), as.Total()
		res, err := d.Introspect(ctx, f.token)
		if err != nil || reader.Stats().Forged.Load() != forged+1 || as.Total() != calls+1 {
			t.Fatalf("%s: %v, forged %d, calls %d: want the authorization server asked", f.name, err, reader.Stats().Forged.Load()-forged, as.Total()-calls)
		}
		if strings.Contains(string(res.Claims.Raw["sub"]), "admin") || strings.Contains(string(res.Claims.Raw["sub"]), "mallory") {
			t.Fatalf("%s: the forged claims were used", f.name)
		}
	}

	// Genuine but past its expiry (max_ttl after it was written): within
	// the clock skew allowed, a plain miss; well past it (written back),
	// forged.
	store.SetRaw(key("tok-a"), value, time.Hour)
	clock.Advance(acme.MaxTTL + 2*time.Second)
	forged, misses := reader.Stats().Forged.Load(), reader.Stats().Misses.Load()
	setClaims(as, "tok-a", map[string]any{"active": true, "sub": "user-1", "exp": at(2 * time.Hour)})
	if _, err := d.Introspect(ctx, "tok-a"); err != nil || reader.Stats().Forged.Load() != forged || reader.Stats().Misses.Load() != misses+1 {
		t.Fatalf("just expired: %v, forged %d, misses %d", err, reader.Stats().Forged.Load()-forged, reader.Stats().Misses.Load()-misses)
	}
	store.SetRaw(key("tok-a"), value, time.Hour)
	clock.Advance(time.Minute)
	if _, err := d.Introspect(ctx, "tok-a"); err != nil || reader.Stats().Forged.Load() != forged+1 {
		t.Fatalf("written back: %v, forged %d", err, reader.Stats().Forged.Load()-forged)
	}

	// A replica without a key takes a signed entry for unreadable: a miss,
	// never claims, and not forged.
	store.SetRaw(key("tok-a"), value, time.Hour)
	plain := onFake(t, store, clock, sharedcache.Options{})
	if _, err := plain.Middleware(acme)(as).Introspect(ctx, "tok-a"); err != nil || plain.Stats().Misses.Load() != 1 || plain.Stats().Forged.Load() != 0 {
		t.Fatalf("unsigned replica: %v, misses %d, forged %d", err, plain.Stats().Misses.Load(), plain.Stats().Forged.Load())
	}
}

func TestFakeRevocationMarkers(t *testing.T) {
	store, clock := newFakeStore()
	as := introspectiontest.NewIntrospector()
	ctx := context.Background()
	user := sharedstore.Subject{Tenant: "acme", Sub: "user-1"}
	entries := map[string]string{
		"by-id":  `{"active":true,"sub":"user-2"}`,
		"older":  fmt.Sprintf(`{"active":true,"sub":"user-1","iat":%d}`, at(-time.Minute)),
		"newer":  fmt.Sprintf(`{"active":true,"sub":"user-1","iat":%d}`, at(time.Minute)),
		"no-iat": `{"active":true,"sub":"user-1"}`,
	}
	for tok, v := range entries {
		setClaims(as, tok, map[string]any{"active": true}) // what the server would say: never asked
		if err := store.Put(ctx, sharedstore.Entry{Key: key(tok), Value: []byte(v), TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []sharedstore.Target{{TokenID: tokenid.Of("by-id")}, {Subject: user}} {
		if _, _, err := store.Revoke(ctx, target, t0, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Revoke drops only what the index lists: these entries are still
	// there, as they would be after a revocation raced their write.
	sh := onFake(t, store, clock, sharedcache.Options{})
	d := sh.Middleware(acme)(as)
	for tok, want := range map[string]bool{"by-id": false, "older": false, "no-iat": false, "newer": true} {
		res, err := d.Introspect(ctx, tok)
		if err != nil || res.Claims.Active != want {
			t.Errorf("%s: %v active=%v, want %v", tok, err, res.Claims.Active, want)
		}
	}
	if as.Total() != 0 || sh.Stats().Revoked.Load() != 3 || sh.Stats().Hits.Load() != 1 {
		t.Fatalf("calls %d, revoked %d, hits %d", as.Total(), sh.Stats().Revoked.Load(), sh.Stats().Hits.Load())
	}

	// A fresh answer is checked too: the server's "active" for a token
	// issued before its subject's revocation is overruled, and not written.
	setClaims(as, "fresh", map[string]any{"active": true, "sub": "user-1", "iat": at(-time.Second), "exp": at(time.Hour)})
	if res, err := d.Introspect(ctx, "fresh"); err != nil || res.Claims.Active || as.Total() != 1 {
		t.Fatalf("fresh: %v %+v, calls %d", err, res.Claims, as.Total())
	}
	sh.Close()
	if _, _, ok := store.Raw(key("fresh")); ok {
		t.Fatal("a revoked answer was written")
	}
}

func TestFakeBreakerSkipsAFailingStore(t *testing.T) {
	store, clock := newFakeStore()
	store.Fail(errors.New("connection refused"))
	var logs bytes.Buffer
	sh := onFake(t, store, clock, sharedcache.Options{
		BreakerThreshold: 3, BreakerCoolDown: time.Hour,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	sh.Close() // no background writes: only lookups reach the store
	as := introspectiontest.NewIntrospector()
	setClaims(as, "tok-secret", map[string]any{"active": true, "exp": at(time.Hour)})
	d := sh.Middleware(acme)(as)
	lookup := func() {
		t.Helper()
		if res, err := d.Introspect(context.Background(), "tok-secret"); err != nil || !res.Claims.Active {
			t.Fatalf("a failing store must not fail the check: %v", err)
		}
	}
	// A success breaks a run of errors.
	lookup()
	lookup()
	store.Fail(nil)
	lookup()
	store.Fail(errors.New("connection refused"))
	lookup()
	lookup()
	if st := sh.Stats(); st.Errors.Load() != 4 || st.Skipped.Load() != 0 || st.Misses.Load() != 1 {
		t.Fatalf("errors %d, skipped %d, misses %d", st.Errors.Load(), st.Skipped.Load(), st.Misses.Load())
	}
	// The third in a row opens the breaker: the store is no longer asked.
	lookup()
	calls := store.Calls()
	for range 5 {
		lookup()
	}
	if st := sh.Stats(); st.Errors.Load() != 5 || st.Skipped.Load() != 5 || store.Calls() != calls || as.Total() != 11 {
		t.Fatalf("errors %d, skipped %d, store calls %d, server calls %d", st.Errors.Load(), st.Skipped.Load(), store.Calls()-calls, as.Total())
	}
	if n := strings.Count(logs.String(), "skipped for a while"); n != 1 || !strings.Contains(logs.String(), `"errors_in_row":3`) ||
		!strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("%d breaker lines in %s", n, logs.String())
	}
	if strings.Contains(logs.String(), "tok-secret") {
		t.Fatal("a token was logged")
	}
}

// gatedStore holds every Put until gate is closed.
type gatedStore struct {
	*sharedstoretest.Store
	gate chan struct{}
}

func (g gatedStore) Put(ctx context.Context, e sharedstore.Entry) error {
	<-g.gate
	return g.Store.Put(ctx, e)
}

func TestFakeWritesInFlightAreBounded(t *testing.T) {
	inner, clock := newFakeStore()
	store := gatedStore{Store: inner, gate: make(chan struct{})}
	sh := onFake(t, store, clock, sharedcache.Options{MaxPendingWrites: 2, Timeout: time.Minute})
	as := introspectiontest.NewIntrospector()
	d := sh.Middleware(acme)(as)
	for i := 1; i <= 3; i++ {
		tok := fmt.Sprintf("tok-%d", i)
		setClaims(as, tok, map[string]any{"active": true, "exp": at(time.Hour)})
		if _, err := d.Introspect(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// Two writes hang in Put; the third found no room and was given up.
	close(store.gate)
	sh.Close()
	for tok, want := range map[string]bool{"tok-1": true, "tok-2": true, "tok-3": false} {
		if _, _, ok := inner.Raw(key(tok)); ok != want {
			t.Errorf("%s stored: %v, want %v", tok, ok, want)
		}
	}
	if n := sh.Stats().Writes.Load(); n != 2 {
		t.Fatalf("writes = %d, want 2", n)
	}
}
