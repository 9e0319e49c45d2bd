package breaker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/breaker"
)

// The half-open path (a probe after the cool-down) runs on the wall clock:
// introspection's breaker tests cover it.

type transitions []string

func newBreaker(s breaker.Settings) (*breaker.Breaker, *transitions) {
	var seen transitions
	s.CoolDown = time.Hour
	s.OnStateChange = func(from, to breaker.State) { seen = append(seen, from.String()+">"+to.String()) }
	return breaker.New(s), &seen
}

// report makes one call per outcome.
func report(t *testing.T, b *breaker.Breaker, outcomes ...breaker.Outcome) {
	t.Helper()
	for _, o := range outcomes {
		call, err := b.Allow()
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		call.Done(o)
	}
}

const (
	ok   = breaker.Success
	fail = breaker.Failure
	skip = breaker.Excluded
)

func TestOpensAfterFailuresInARow(t *testing.T) {
	b, seen := newBreaker(breaker.Settings{ConsecutiveFailures: 3})
	// A success breaks the run; an excluded call does not.
	report(t, b, fail, fail, ok, fail, skip, skip, fail)
	if b.State() != breaker.Closed {
		t.Fatalf("state %v after two failures in a row", b.State())
	}
	report(t, b, fail)
	if b.State() != breaker.Open || len(*seen) != 1 || (*seen)[0] != "closed>open" {
		t.Fatalf("state %v, transitions %v", b.State(), *seen)
	}
	if _, err := b.Allow(); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("open: %v", err)
	}
}

func TestFailureRatio(t *testing.T) {
	b, _ := newBreaker(breaker.Settings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinCalls: 4, Window: time.Hour})
	report(t, b, ok, fail, skip, ok)
	if b.State() != breaker.Closed {
		t.Fatal("opened before MinCalls completed")
	}
	report(t, b, fail)
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 2 failures of 4", b.State())
	}

	// Without a FailureRatio only failures in a row count.
	b, _ = newBreaker(breaker.Settings{ConsecutiveFailures: 2, MinCalls: 1})
	for range 50 {
		report(t, b, fail, ok)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state %v without a ratio", b.State())
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[breaker.State]string{breaker.Closed: "closed", breaker.HalfOpen: "half-open", breaker.Open: "open", 7: "BreakerState(7)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
}
