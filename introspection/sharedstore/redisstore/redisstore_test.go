package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/introspection/sharedstore/redisstore"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// newStore returns a store on srv with the key prefix "p:", closed at the
// end of the test.
func newStore(t *testing.T, srv *redisserver.Server) *redisstore.Store {
	t.Helper()
	st := redisstore.New(redisstore.NewClient(redisstore.ClientOptions{Address: srv.Addr(), Timeout: time.Second}), "p:")
	t.Cleanup(func() { st.Close() })
	return st
}

// rawClient returns a plain client on srv to read the keys a store wrote.
func rawClient(t *testing.T, srv *redisserver.Server) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// The key layout is what replicas of other versions read and write: it is
// pinned here, name by name.
func TestKeyLayoutAndMarkers(t *testing.T) {
	srv := redisserver.Start(t)
	st, rc := newStore(t, srv), rawClient(t, srv)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("acme\x00user-1"))
	subHash := hex.EncodeToString(sum[:])
	user := sharedstore.Subject{Tenant: "acme", Sub: "user-1"}

	if err := st.Put(ctx, sharedstore.Entry{Key: "k1", Value: []byte("v"), TTL: time.Minute,
		TokenID: "0123456789ab", Subject: user, IndexTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if st.EntryName("k1") != "p:k1" || rc.Get(ctx, "p:k1").Val() != "v" {
		t.Fatal("entry not at p:k1")
	}
	for _, idx := range []string{"p:index:id:0123456789ab", "p:index:sub:" + subHash} {
		if m := rc.SMembers(ctx, idx).Val(); len(m) != 1 || m[0] != "k1" || rc.PTTL(ctx, idx).Val() <= 59*time.Minute {
			t.Fatalf("%s: %v, TTL %v", idx, m, rc.PTTL(ctx, idx).Val())
		}
	}
	if v, revoked, err := st.Get(ctx, "k1", "0123456789ab"); err != nil || revoked || string(v) != "v" {
		t.Fatalf("get: %q %v %v", v, revoked, err)
	}

	at := time.UnixMilli(1_900_000_000_000)
	tried, deleted, err := st.Revoke(ctx, sharedstore.Target{Subject: user}, at, time.Minute, []string{"k2"})
	if err != nil || len(tried) != 2 || len(deleted) != 1 || deleted[0] != "k1" {
		t.Fatalf("revoke: tried %v, deleted %v, %v", tried, deleted, err)
	}
	if rc.Get(ctx, "p:revoked:sub:"+subHash).Val() != "1900000000000" || rc.Exists(ctx, "p:index:sub:"+subHash).Val() != 0 {
		t.Fatal("subject marker or index wrong")
	}
	m, err := st.Markers(ctx, "0123456789ab", user)
	if err != nil || m.TokenID || !m.Subject || !m.SubjectAt.Equal(at) {
		t.Fatalf("markers %+v %v", m, err)
	}
	if _, _, err := st.Revoke(ctx, sharedstore.Target{TokenID: "0123456789ab"}, at, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if _, revoked, err := st.Get(ctx, "k1", "0123456789ab"); err != nil || !revoked || rc.Exists(ctx, "p:revoked:id:0123456789ab").Val() != 1 {
		t.Fatalf("token_id marker: %v %v", revoked, err)
	}

	// A marker whose time cannot be read covers every token: fail closed.
	rc.Set(ctx, "p:revoked:sub:"+subHash, "garbage", time.Minute)
	if m, err := st.Markers(ctx, "", user); err != nil || !m.Subject || !m.SubjectAt.After(time.Now().AddDate(1000, 0, 0)) {
		t.Fatalf("unreadable marker: %+v %v", m, err)
	}
	if m, err := st.Markers(ctx, "", sharedstore.Subject{}); err != nil || m != (sharedstore.Markers{}) {
		t.Fatalf("nothing asked: %+v %v", m, err)
	}
}

func TestPublishSubscribe(t *testing.T) {
	st := newStore(t, redisserver.Start(t))
	got := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := st.Subscribe(ctx, func(msg []byte) {
		select {
		case got <- string(msg):
		default: // a repeat: the first one is what counts
		}
	})
	// The subscription is made in the background: publish until it is up.
	deadline := time.After(5 * time.Second)
	for received := false; !received; {
		if err := st.Publish(ctx, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		select {
		case msg := <-got:
			if msg != "hello" {
				t.Fatalf("got %q", msg)
			}
			received = true
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message within 5s")
		}
	}
	cancel()
	<-done
}

// TestSeenJTI: a DPoP jti is one key per tenant and jti, set once (SET NX)
// with the replay window as its TTL; the second call, from any replica,
// is a replay.
func TestSeenJTI(t *testing.T) {
	srv := redisserver.Start(t)
	a, b, rc := newStore(t, srv), newStore(t, srv), rawClient(t, srv)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("acme\x00jti-1"))
	key := "p:dpop:jti:" + hex.EncodeToString(sum[:])

	if replayed, err := a.SeenJTI(ctx, "acme", "jti-1", 2*time.Minute); err != nil || replayed {
		t.Fatalf("first use: %v %v", replayed, err)
	}
	if ttl := rc.PTTL(ctx, key).Val(); ttl <= time.Minute || ttl > 2*time.Minute {
		t.Fatalf("%s: TTL %v", key, ttl)
	}
	if replayed, err := b.SeenJTI(ctx, "acme", "jti-1", 2*time.Minute); err != nil || !replayed {
		t.Fatalf("replay at another replica: %v %v", replayed, err)
	}
	if replayed, err := b.SeenJTI(ctx, "globex", "jti-1", 2*time.Minute); err != nil || replayed {
		t.Fatalf("another tenant's jti: %v %v", replayed, err)
	}
	if _, err := a.SeenJTI(ctx, "acme", "jti-2", 0); err == nil {
		t.Fatal("a jti without TTL was accepted")
	}
	srv.Kill()
	if _, err := a.SeenJTI(ctx, "acme", "jti-3", time.Minute); err == nil {
		t.Fatal("no error with Redis down")
	}
}
