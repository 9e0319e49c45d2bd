package cache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/introspection/tokenid"
	"github.com/tokengate/tokengate/testsupport"
)

// answering is an authorization server that answers every token with body.
func answering(t *testing.T, body string) *introspectiontest.Introspector {
	t.Helper()
	c, err := introspection.ParseClaims([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	f := introspectiontest.NewIntrospector()
	f.AnswerAll(introspection.Result{Claims: c})
	return f
}

func TestIndexDeleteAndRevocationGuard(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 10})
	c := cached(st, answering(t, `{"active":true,"sub":"u1"}`), time.Second)
	ctx := context.Background()
	for _, tok := range []string{"a", "b"} {
		if _, err := c.Introspect(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.KeysBySubject("u1"); len(got) != 2 {
		t.Fatalf("by subject: %d keys", len(got))
	}
	if got := st.KeysByTokenID(tokenid.Of("a")); len(got) != 1 || got[0] != Key("acme", "", "a") {
		t.Fatalf("by token id: %q", got)
	}
	if n := st.Delete(Key("acme", "", "a"), Key("acme", "", "missing")); n != 1 {
		t.Fatalf("deleted %d", n)
	}
	if st.Len() != 1 || len(st.KeysBySubject("u1")) != 1 || len(st.KeysByTokenID(tokenid.Of("a"))) != 0 {
		t.Fatalf("after delete: len %d, index %d", st.Len(), len(st.KeysBySubject("u1")))
	}

	// An answer asked for before a revocation is returned but not stored.
	gate := answering(t, `{"active":true,"sub":"u2"}`)
	gate.Block()
	c2 := cached(st, gate, time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := c2.Introspect(ctx, "late"); err != nil || !res.Claims.Active {
			t.Errorf("late: %v", err)
		}
	}()
	testsupport.WaitFor(t, 5*time.Second, "the call to reach the server", func() bool { return gate.InFlight() == 1 })
	st.Delete(Key("acme", "", "late"))
	gate.Release()
	<-done
	if _, _, ok := st.get(Key("acme", "", "late")); ok {
		t.Fatal("an answer that predates the revocation was stored")
	}
}

// The revocation index is touched on stores only: a hit still allocates
// only its key string, as it did before the index.
func TestHitAllocatesOnlyTheKey(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 10})
	c := cached(st, answering(t, `{"active":true,"sub":"u1"}`), time.Second)
	ctx := context.Background()
	c.Introspect(ctx, "tok")
	if n := testing.AllocsPerRun(100, func() { c.Introspect(ctx, "tok") }); n > 1 {
		t.Fatalf("a hit allocates %v times", n)
	}
}

// Many tokens of one subject are all found, and leave the index as they
// leave the store.
func TestIndexManyTokensOfOneSubject(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 100})
	c := cached(st, answering(t, `{"active":true,"sub":"u1"}`), time.Second)
	ctx := context.Background()
	var keys []string
	for i := range 50 {
		tok := fmt.Sprintf("tok-%d", i)
		if _, err := c.Introspect(ctx, tok); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, st.KeysByTokenID(tokenid.Of(tok))...)
	}
	if got := st.KeysBySubject("u1"); len(got) != 50 || len(keys) != 50 {
		t.Fatalf("by subject: %d keys, by token id: %d", len(got), len(keys))
	}
	if n := st.Delete(st.KeysBySubject("u1")[:25]...); n != 25 {
		t.Fatalf("deleted %d", n)
	}
	if got := st.KeysBySubject("u1"); len(got) != 25 {
		t.Fatalf("by subject after deleting 25: %d keys", len(got))
	}
	st.Delete(keys...)
	if st.Len() != 0 || len(st.KeysBySubject("u1")) != 0 || st.idx.bySub.n != 0 || len(st.idx.bySub.more) != 0 {
		t.Fatalf("after deleting all: len %d, subject index %d", st.Len(), st.idx.bySub.n)
	}
	for _, id := range []string{"", "u1", strings.ToUpper(tokenid.Of("tok-1")), tokenid.Of("tok-1") + "0"} {
		if got := st.KeysByTokenID(id); len(got) != 0 {
			t.Fatalf("KeysByTokenID(%q) = %d keys", id, len(got))
		}
	}
}

// Token ids of entries gone are pruned once there are enough of them.
func TestIndexPrunesTokenIDs(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: 100 * time.Millisecond, NegativeTTL: time.Minute, MaxEntries: 2 * pruneAfter})
	c := cached(st, answering(t, `{"active":true,"sub":"u1"}`), time.Second)
	ctx := context.Background()
	for i := range pruneAfter + 10 {
		if _, err := c.Introspect(ctx, fmt.Sprintf("tok-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if st.idx.byTok.n != pruneAfter+10 {
		t.Fatalf("%d token ids indexed", st.idx.byTok.n)
	}
	time.Sleep(150 * time.Millisecond)
	st.sweep()
	if st.Len() != 0 || st.idx.byTok.n != 0 || st.idx.bySub.n != 0 {
		t.Fatalf("after every entry expired: %d entries, %d token ids, %d subjects", st.Len(), st.idx.byTok.n, st.idx.bySub.n)
	}
}

// TestIndexUndated: entries without iat are found by their sid and email
// (events about a session or an address evict them); entries with iat are
// not (the event's marker judges those), and an evicted or overwritten
// entry leaves the index.
func TestIndexUndated(t *testing.T) {
	st := NewStore(Options{Tenant: "acme", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 10})
	as := introspectiontest.NewIntrospector()
	answer := func(token, body string) {
		c, err := introspection.ParseClaims([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		as.Answer(token, introspection.Result{Claims: c})
	}
	iat := fmt.Sprint(time.Now().Unix())
	answer("undated", `{"active":true,"sub":"u1","sid":"s1","email":"a@example.com"}`)
	answer("dated", `{"active":true,"sub":"u1","sid":"s1","email":"a@example.com","iat":`+iat+`}`)
	answer("other", `{"active":true,"sub":"u2","sid":"s2"}`)
	answer("numeric sid", `{"active":true,"sid":1}`)
	c := cached(st, as, time.Second)
	for _, tok := range []string{"undated", "dated", "other", "numeric sid"} {
		if _, err := c.Introspect(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	undated := Key("acme", "", "undated")
	for _, tt := range []struct {
		claim, value string
		want         []string
	}{
		{"sid", "s1", []string{undated}},
		{"email", "a@example.com", []string{undated}},
		{"sid", "s2", []string{Key("acme", "", "other")}},
		{"email", "s1", nil},
		{"sid", "1", nil},
		{"sid", "", nil},
	} {
		if got := st.KeysUndated(tt.claim, tt.value); !slices.Equal(got, tt.want) {
			t.Errorf("KeysUndated(%s, %s) = %q, want %q", tt.claim, tt.value, got, tt.want)
		}
	}
	st.Delete(undated)
	if got := st.KeysUndated("sid", "s1"); len(got) != 0 || st.idx.undated.n != 1 {
		t.Errorf("after eviction: %q, %d held", got, st.idx.undated.n)
	}
	// Overwritten with an answer that has iat: no longer undated.
	dated, err := introspection.ParseClaims([]byte(`{"active":true,"sub":"u2","sid":"s2","iat":` + iat + `}`))
	if err != nil {
		t.Fatal(err)
	}
	st.put(Key("acme", "", "other"), tokenid.Of("other"), dated, st.Generation())
	if got := st.KeysUndated("sid", "s2"); len(got) != 0 || st.idx.undated.n != 0 {
		t.Errorf("after an answer with iat: %q, %d held", got, st.idx.undated.n)
	}
}
