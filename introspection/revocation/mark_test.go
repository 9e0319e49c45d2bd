package revocation_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/introspection/sharedstore/sharedstoretest"
	"github.com/tokengate/tokengate/testsupport"
)

// tokenClaims is an active token's claims with sub, sid and email, issued
// at iat (zero: no iat).
func tokenClaims(t *testing.T, sub, sid, email string, iat time.Time) *introspection.Claims {
	t.Helper()
	body := `{"active":true,"sub":` + strconv.Quote(sub) + `,"sid":` + strconv.Quote(sid) + `,"email":` + strconv.Quote(email)
	if !iat.IsZero() {
		body += `,"iat":` + strconv.FormatInt(iat.Unix(), 10)
	}
	c, err := introspection.ParseClaims([]byte(body + "}"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMarkersRevoked: a marker covers the tokens of its tenant and claim
// issued at or before its time, until it expires; later tokens and tokens
// without iat pass.
func TestMarkersRevoked(t *testing.T) {
	clock := sharedstoretest.NewClock(t0)
	m := revocation.NewMarkers(0, clock.Now)
	at := t0.Add(-time.Minute)
	for _, mk := range []revocation.Mark{
		revocation.NewMark("acme", revocation.MarkSubject, "user-1", at, t0, time.Hour),
		revocation.NewMark("acme", revocation.MarkSession, "sess-9", at, t0, time.Hour),
		revocation.NewMark("acme", revocation.MarkEmail, "e@acme.example", at, t0, time.Hour),
	} {
		if err := m.Add(mk); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		tenant string
		c      *introspection.Claims
		want   bool
	}{
		{"subject, issued before", "acme", tokenClaims(t, "user-1", "s", "x", at.Add(-time.Second)), true},
		{"subject, issued at the event", "acme", tokenClaims(t, "user-1", "s", "x", at), true},
		{"subject, issued after", "acme", tokenClaims(t, "user-1", "s", "x", at.Add(time.Second)), false},
		{"subject, no iat", "acme", tokenClaims(t, "user-1", "s", "x", time.Time{}), false},
		{"other tenant", "globex", tokenClaims(t, "user-1", "s", "x", at), false},
		{"other subject", "acme", tokenClaims(t, "user-2", "s", "x", at), false},
		{"session", "acme", tokenClaims(t, "user-2", "sess-9", "x", at), true},
		{"email", "acme", tokenClaims(t, "user-2", "s", "e@acme.example", at), true},
	} {
		if got := m.Revoked(tc.tenant, tc.c); got != tc.want {
			t.Errorf("%s: revoked %t, want %t", tc.name, got, tc.want)
		}
	}
	clock.Advance(time.Hour)
	if m.Revoked("acme", tokenClaims(t, "user-1", "s", "x", at)) {
		t.Error("an expired marker still revokes")
	}
}

// TestMarkersBounded: a full set refuses a new marker (never forgets a
// live one), and takes one again once markers expired.
func TestMarkersBounded(t *testing.T) {
	clock := sharedstoretest.NewClock(t0)
	m := revocation.NewMarkers(2, clock.Now)
	for i, ttl := range []time.Duration{time.Minute, time.Hour} {
		if err := m.Add(revocation.NewMark("acme", revocation.MarkSubject, "u"+strconv.Itoa(i), t0, t0, ttl)); err != nil {
			t.Fatal(err)
		}
	}
	// The same name again updates in place.
	if err := m.Add(revocation.NewMark("acme", revocation.MarkSubject, "u0", t0.Add(time.Second), t0, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(revocation.NewMark("acme", revocation.MarkSubject, "u2", t0, t0, time.Hour)); !errors.Is(err, revocation.ErrMarkersFull) {
		t.Fatalf("full: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if err := m.Add(revocation.NewMark("acme", revocation.MarkSubject, "u2", t0, clock.Now(), time.Hour)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := m.Add(revocation.Mark{Tenant: "acme", Kind: "nope", Value: "x"}); !errors.Is(err, revocation.ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
}

// TestMarkEvictsAndReachesReplicas: a subject mark evicts the subject's
// local entries (with or without iat) on this replica and, through the
// shared store's pub/sub, records the marker and evicts on the others.
func TestMarkEvictsAndReachesReplicas(t *testing.T) {
	shared := sharedstoretest.New(nil)
	a, b := newReplica(t, shared, nil), newReplica(t, shared, nil)
	mk := revocation.NewMark("acme", revocation.MarkSubject, "user-1", t0, t0, time.Hour)
	n, err := a.rv.Mark(context.Background(), mk)
	if err != nil || n != 2 {
		t.Fatalf("Mark: %d, %v", n, err)
	}
	for name, r := range map[string]replica{"a": a, "b": b} {
		if r.store.Len() != 1 {
			t.Errorf("replica %s holds %d entries, want user-3's only", name, r.store.Len())
		}
		if !r.rv.Revoked("acme", tokenClaims(t, "user-1", "", "", t0)) {
			t.Errorf("replica %s has no marker", name)
		}
	}
	if b.rv.Stats().Received.Load() != 1 {
		t.Errorf("b received %d", b.rv.Stats().Received.Load())
	}
	// Without a shared store: this replica only, no error.
	c := newReplica(t, nil, nil)
	if _, err := c.rv.Mark(context.Background(), revocation.NewMark("acme", revocation.MarkSession, "s", t0, t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !c.rv.Revoked("acme", tokenClaims(t, "x", "s", "", t0)) {
		t.Error("local session marker missing")
	}
	// A failing shared store: recorded locally, ErrUnavailable.
	shared.Fail(errors.New("down"))
	if _, err := a.rv.Mark(context.Background(), revocation.NewMark("acme", revocation.MarkSubject, "user-3", t0, t0, time.Hour)); !errors.Is(err, revocation.ErrUnavailable) {
		t.Errorf("failing store: %v", err)
	}
	if !a.rv.Revoked("acme", tokenClaims(t, "user-3", "", "", t0)) {
		t.Error("marker not recorded locally when the store failed")
	}
}

// TestMarkSessionEvictsUndated: a session (or e-mail) mark evicts that
// session's tokens without iat on every replica (they are introspected
// again), and nothing else; the shared store is asked to evict them too.
func TestMarkSessionEvictsUndated(t *testing.T) {
	shared := sharedstoretest.New(nil)
	a, b := newReplica(t, shared, nil), newReplica(t, shared, nil)
	n, err := a.rv.Mark(context.Background(), revocation.NewMark("acme", revocation.MarkSession, "sess-tok-3", t0, t0, time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Mark: %d, %v", n, err)
	}
	testsupport.WaitFor(t, 5*time.Second, "replica b to evict tok-3", func() bool { return b.store.Len() == 2 })
	for name, r := range map[string]replica{"a": a, "b": b} {
		if r.store.Len() != 2 || len(r.store.KeysBySubject("user-1")) != 2 {
			t.Errorf("replica %s holds %d entries, want user-1's two", name, r.store.Len())
		}
	}
	if n, err := a.rv.Mark(context.Background(), revocation.NewMark("acme", revocation.MarkEmail, "nobody@example.com", t0, t0, time.Hour)); err != nil || n != 0 {
		t.Errorf("email mark: %d, %v", n, err)
	}
}

// TestRestore: a replica that starts later restores the live markers the
// shared store keeps; expired ones are not restored.
func TestRestore(t *testing.T) {
	shared := sharedstoretest.New(func() time.Time { return t0 })
	a := newReplica(t, shared, nil)
	for _, mk := range []revocation.Mark{
		revocation.NewMark("acme", revocation.MarkSession, "sess-1", t0, t0, time.Hour),
		revocation.NewMark("acme", revocation.MarkSubject, "gone", t0, t0.Add(-2*time.Hour), time.Hour),
	} {
		if _, err := a.rv.Mark(context.Background(), mk); err != nil {
			t.Fatal(err)
		}
	}
	late := revocation.New(revocation.Options{Store: shared, Now: func() time.Time { return t0 }})
	t.Cleanup(late.Close)
	if n, err := late.Restore(context.Background()); err != nil || n != 1 {
		t.Fatalf("Restore: %d, %v", n, err)
	}
	if !late.Revoked("acme", tokenClaims(t, "u", "sess-1", "", t0)) {
		t.Error("the restored marker does not revoke")
	}
	shared.Fail(errors.New("down"))
	if _, err := late.Restore(context.Background()); !errors.Is(err, revocation.ErrUnavailable) {
		t.Errorf("Restore with the store down: %v", err)
	}
}
