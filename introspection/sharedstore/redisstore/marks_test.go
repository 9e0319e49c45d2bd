package redisstore_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/testpeers/redisserver"
)

// TestEventMarks: event markers live in one sorted set scored by expiry;
// LiveMarks returns the unexpired ones; expired ones and, beyond max, the
// first to expire are dropped on each write.
func TestEventMarks(t *testing.T) {
	srv := redisserver.Start(t)
	st, rc := newStore(t, srv), rawClient(t, srv)
	ctx := context.Background()
	now := time.Now()
	for i, m := range []struct {
		mark  string
		until time.Time
	}{{"a", now.Add(time.Hour)}, {"b", now.Add(2 * time.Hour)}, {"c", now.Add(3 * time.Hour)}} {
		if err := st.AddMark(ctx, []byte(m.mark), m.until, 2); err != nil {
			t.Fatalf("mark %d: %v", i, err)
		}
	}
	live, err := st.LiveMarks(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(live))
	for i, m := range live {
		got[i] = string(m)
	}
	sort.Strings(got)
	if len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Errorf("live marks %v, want [b c] (max 2 drops the first to expire)", got)
	}
	if n := rc.ZCard(ctx, "p:revoked:events").Val(); n != 2 {
		t.Errorf("p:revoked:events holds %d", n)
	}
	if live, _ := st.LiveMarks(ctx, now.Add(150*time.Minute)); len(live) != 1 {
		t.Errorf("after b expired: %d live", len(live))
	}
}

// TestEvict: a subject's entries and index set are deleted, and no marker
// is written.
func TestEvict(t *testing.T) {
	srv := redisserver.Start(t)
	st, rc := newStore(t, srv), rawClient(t, srv)
	ctx := context.Background()
	user := sharedstore.Subject{Tenant: "acme", Sub: "user-1"}
	for _, k := range []string{"k1", "k2"} {
		if err := st.Put(ctx, sharedstore.Entry{Key: k, Value: []byte("v"), TTL: time.Minute, TokenID: "0123456789ab", Subject: user, IndexTTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// An answer without iat, also in its session's set.
	session := sharedstore.Subject{Tenant: "acme", Sub: "sess-1", UndatedClaim: "sid"}
	if err := st.Put(ctx, sharedstore.Entry{Key: "k3", Value: []byte("v"), TTL: time.Minute, Subject: sharedstore.Subject{Tenant: "acme", Sub: "sess-1"},
		Undated: []sharedstore.Subject{session}, IndexTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	deleted, err := st.Evict(ctx, user)
	if err != nil || len(deleted) != 2 {
		t.Fatalf("Evict: %v, %v", deleted, err)
	}
	if n := rc.Exists(ctx, "p:k1", "p:k2").Val(); n != 0 {
		t.Errorf("%d entries left", n)
	}
	if n := rc.Exists(ctx, "p:k3").Val(); n != 1 {
		t.Fatal("the session's entry went with another subject's")
	}
	if deleted, err := st.Evict(ctx, session); err != nil || len(deleted) != 1 || deleted[0] != "k3" {
		t.Errorf("Evict(session): %v, %v", deleted, err)
	}
	if keys := rc.Keys(ctx, "p:revoked:*").Val(); len(keys) != 0 {
		t.Errorf("Evict wrote markers: %v", keys)
	}
}
