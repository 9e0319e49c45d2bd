package revocation_test

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/introspection/sharedstore/sharedstoretest"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// claimsOf answers each token with its claims (active: false for others).
type claimsOf map[string]*introspection.Claims

func (c claimsOf) Introspect(_ context.Context, token string) (introspection.Result, error) {
	claims, ok := c[token]
	if !ok {
		claims = &introspection.Claims{}
	}
	return introspection.Result{Claims: claims, Cache: introspection.CacheNone}, nil
}

// authServer answers the tokens of the tests: two of user-1, one of user-3.
func authServer(t *testing.T) claimsOf {
	t.Helper()
	as := claimsOf{}
	for tok, sub := range map[string]string{"tok-1": "user-1", "tok-2": "user-1", "tok-3": "user-3"} {
		exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		c, err := introspection.ParseClaims([]byte(`{"active":true,"sub":` + strconv.Quote(sub) + `,"sid":"sess-` + tok + `","exp":` + exp + `}`))
		if err != nil {
			t.Fatal(err)
		}
		as[tok] = c
	}
	return as
}

// replica is a Revoker with tenant acme's local cache, which holds every
// token of authServer.
type replica struct {
	rv    *revocation.Revoker
	store *cache.Store
}

// newReplica is a replica on the shared store (nil: none) that logs to
// logger (nil: nowhere).
func newReplica(t *testing.T, shared sharedstore.Revocations, logger *slog.Logger) replica {
	t.Helper()
	o := revocation.Options{Now: func() time.Time { return t0 }, Logger: logger}
	if shared != nil {
		o.Store = shared
	}
	rv := revocation.New(o)
	t.Cleanup(rv.Close)
	st := cache.NewStore(cache.Options{Tenant: "acme", MaxTTL: 5 * time.Minute, NegativeTTL: 7 * time.Second, MaxEntries: 100})
	rv.SetStores(map[string]*cache.Store{"acme": st})
	c := introspection.Chain(authServer(t), st.Middleware(time.Second))
	for _, tok := range []string{"tok-1", "tok-2", "tok-3"} {
		if _, err := c.Introspect(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if st.Len() != 3 {
		t.Fatalf("local cache holds %d", st.Len())
	}
	return replica{rv, st}
}

func TestRevokeLocalOnly(t *testing.T) {
	r := newReplica(t, nil, nil)
	ctx := context.Background()
	for _, c := range []struct {
		req  revocation.Request
		want int
	}{
		{revocation.Request{Token: "tok-3"}, 1},
		{revocation.Request{TokenID: tokenid.Of("not-cached")}, 0},
		{revocation.Request{Tenant: "acme", Sub: "user-1"}, 2},
	} {
		if n, err := r.rv.Revoke(ctx, c.req); err != nil || n != c.want {
			t.Fatalf("%+v: evicted %d, %v; want %d", c.req, n, err, c.want)
		}
	}
	if r.store.Len() != 0 || r.rv.Stats().Revocations.Load() != 3 {
		t.Fatalf("left %d, revocations %d", r.store.Len(), r.rv.Stats().Revocations.Load())
	}
	for _, req := range []revocation.Request{{}, {Token: "x", TokenID: "0123456789ab"}, {TokenID: "XYZ"}, {Sub: "u"}, {Tenant: "nope", Sub: "u"}} {
		if _, err := r.rv.Revoke(ctx, req); !errors.Is(err, revocation.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", req, err)
		}
	}
	if r.rv.MarkerTTL() != 5*time.Minute {
		t.Errorf("marker TTL %v, want the longest max_ttl", r.rv.MarkerTTL())
	}
}

// The fake store delivers a message before Publish returns: the other
// replica has evicted when Revoke returns.
func TestRevokeMarksAndFansOut(t *testing.T) {
	shared := sharedstoretest.New(func() time.Time { return t0 })
	var logs strings.Builder // written by this goroutine only: the fake delivers in Publish
	a, b := newReplica(t, shared, slog.New(slog.NewJSONHandler(&logs, nil))), newReplica(t, shared, nil)
	ctx := context.Background()
	user1 := sharedstore.Subject{Tenant: "acme", Sub: "user-1"}
	// tok-1 is in the shared cache too, indexed under its subject.
	k1 := hex.EncodeToString([]byte(a.store.KeyFor("tok-1")))
	if err := shared.Put(ctx, sharedstore.Entry{Key: k1, Value: []byte("{}"), TTL: time.Hour,
		TokenID: tokenid.Of("tok-1"), Subject: user1, IndexTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	if n, err := a.rv.Revoke(ctx, revocation.Request{Tenant: "acme", Sub: "user-1"}); err != nil || n != 2 {
		t.Fatalf("revoke sub: %d %v", n, err)
	}
	if a.store.Len() != 1 || b.store.Len() != 1 {
		t.Fatalf("left a %d, b %d; want tok-3 only", a.store.Len(), b.store.Len())
	}
	if _, _, ok := shared.Raw(k1); ok {
		t.Fatal("the shared entry is still there")
	}
	if at, ttl, ok := shared.Marker(sharedstore.Target{Subject: user1}); !ok || !at.Equal(t0) || ttl != 5*time.Minute {
		t.Fatalf("subject marker %v at %v for %v", ok, at, ttl)
	}
	if len(shared.Index(sharedstore.Target{Subject: user1})) != 0 {
		t.Fatal("the index set is still there")
	}

	if n, err := b.rv.Revoke(ctx, revocation.Request{Token: "tok-3"}); err != nil || n != 1 {
		t.Fatalf("revoke token: %d %v", n, err)
	}
	if a.store.Len() != 0 {
		t.Fatal("a still holds tok-3")
	}
	if _, _, ok := shared.Marker(sharedstore.Target{TokenID: tokenid.Of("tok-3")}); !ok {
		t.Fatal("no token_id marker")
	}
	// Each heard the other, never itself.
	if a.rv.Stats().Received.Load() != 1 || b.rv.Stats().Received.Load() != 1 {
		t.Fatalf("received a %d, b %d", a.rv.Stats().Received.Load(), b.rv.Stats().Received.Load())
	}
	if strings.Contains(logs.String(), "tok-") {
		t.Fatalf("a token was logged: %s", logs.String())
	}
	if !strings.Contains(logs.String(), tokenid.Of("tok-3")) {
		t.Fatalf("the received revocation's token_id is not logged: %s", logs.String())
	}
}

func TestRevokeWithTheStoreDown(t *testing.T) {
	shared := sharedstoretest.New(func() time.Time { return t0 })
	r := newReplica(t, shared, nil)
	shared.Fail(errors.New("connection refused"))
	n, err := r.rv.Revoke(context.Background(), revocation.Request{Tenant: "acme", Sub: "user-1"})
	if !errors.Is(err, revocation.ErrUnavailable) || n != 2 || r.store.Len() != 1 {
		t.Fatalf("evicted %d, %v, left %d: want a local eviction and ErrUnavailable", n, err, r.store.Len())
	}
}

func TestReceivedMessagesAndClose(t *testing.T) {
	shared := sharedstoretest.New(func() time.Time { return t0 })
	r := newReplica(t, shared, nil)
	ctx := context.Background()
	for _, msg := range []string{"not json", `{"origin":"elsewhere","token_id":"` + tokenid.Of("tok-3") + `"}`} {
		if err := shared.Publish(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if r.store.Len() != 2 || r.rv.Stats().Received.Load() != 1 {
		t.Fatalf("left %d, received %d", r.store.Len(), r.rv.Stats().Received.Load())
	}
	r.rv.Close()
	if n := shared.Subscribers(); n != 0 {
		t.Fatalf("%d subscriptions after Close", n)
	}
}
