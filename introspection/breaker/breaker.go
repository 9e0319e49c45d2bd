// Package breaker is tokengate's one circuit breaker type, used in front
// of each tenant's authorization server (introspection.CircuitBreaker) and
// in front of the shared cache's Redis (sharedcache). It is sony/gobreaker
// behind a small API, so both callers count, trip and recover the same way
// and neither depends on gobreaker itself.
//
// Closed, every call goes through; ConsecutiveFailures failures in a row,
// or (with a FailureRatio) that share of at least MinCalls calls completed
// within Window, open it. Open, calls are refused until CoolDown has
// passed. Then it is half-open: Probes calls at a time go through; that
// many successes in a row close it, and one failure opens it again.
//
// Concurrency: a Breaker is safe for concurrent use. Ownership: the caller
// that made it owns it; it holds no goroutine or other resource, so there
// is nothing to close. Timing is gobreaker's: the cool-down and the window
// run on the wall clock (gobreaker takes no clock).
package breaker

import (
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// State is a breaker's state; the numbers are the values of the
// tokengate_circuit_breaker_state gauge.
type State int

const (
	Closed   State = 0 // calls go through
	HalfOpen State = 1 // Settings.Probes calls at a time go through
	Open     State = 2 // calls are refused
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Outcome is what a caller reports about a call the breaker let through.
type Outcome int

const (
	// Success breaks a run of failures; in half-open, Probes of them in a
	// row close the breaker.
	Success Outcome = iota
	// Failure counts towards opening; in half-open it opens again.
	Failure
	// Excluded is neither: the call says nothing about the other side
	// (the caller gave up, say).
	Excluded
)

// Allow's errors.
var (
	// ErrOpen: the breaker is open.
	ErrOpen = errors.New("circuit breaker open")
	// ErrProbeInFlight: half-open, with its probes already in flight.
	ErrProbeInFlight = errors.New("circuit breaker half-open, probe in flight")
)

// buckets is how many buckets a Window has.
const buckets = 10

// Settings configure a Breaker. The caller chooses every threshold: this
// package has no defaults of its own beyond the minimums stated.
type Settings struct {
	// Name is gobreaker's name of the breaker (not logged here).
	Name string
	// ConsecutiveFailures failures in a row open the breaker (at least 1).
	ConsecutiveFailures int
	// FailureRatio, when above 0, also opens it once at least MinCalls
	// calls (at least 1) completed within Window and that share of them
	// failed.
	FailureRatio float64
	MinCalls     int
	// Window is the rolling window (ten buckets) of a closed breaker's
	// counts; 0 keeps the counts until the state changes.
	Window time.Duration
	// CoolDown is how long the breaker stays open before a probe.
	CoolDown time.Duration
	// Probes is how many calls half-open lets through at once (at least 1).
	Probes int
	// OnStateChange, when set, is called on every state change. It runs
	// under the breaker's lock (a gobreaker property), so it must be quick
	// and must not call the breaker's methods: that deadlocks.
	OnStateChange func(from, to State)
}

// Breaker is one circuit breaker.
type Breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// Call is a call the breaker let through: report its outcome with Done,
// exactly once (a half-open breaker waits for its probe's outcome).
type Call struct{ done func(error) }

// errExcluded and errFailure are what gobreaker is told about a call.
var (
	errExcluded = errors.New("excluded from the breaker's counts")
	errFailure  = errors.New("failure")
)

// New returns a closed breaker.
func New(s Settings) *Breaker {
	s.ConsecutiveFailures = max(s.ConsecutiveFailures, 1)
	s.MinCalls = max(s.MinCalls, 1)
	s.Probes = max(s.Probes, 1)
	return &Breaker{cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         s.Name,
		MaxRequests:  uint32(s.Probes),
		Interval:     s.Window,
		BucketPeriod: s.Window / buckets, // 0 (a tiny window): one fixed window
		Timeout:      s.CoolDown,
		ReadyToTrip:  s.readyToTrip,
		IsExcluded:   func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if s.OnStateChange != nil {
				s.OnStateChange(State(from), State(to))
			}
		},
	})}
}

// Allow asks to make a call. It returns ErrOpen or ErrProbeInFlight when
// the call must not be made; otherwise the Call to report on. Refusing
// allocates nothing.
func (b *Breaker) Allow() (Call, error) {
	done, err := b.cb.Allow()
	switch {
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return Call{}, ErrProbeInFlight
	case err != nil:
		return Call{}, ErrOpen
	}
	return Call{done: done}, nil
}

// Done reports the call's outcome.
func (c Call) Done(o Outcome) {
	switch o {
	case Success:
		c.done(nil)
	case Failure:
		c.done(errFailure)
	default:
		c.done(errExcluded)
	}
}

// State returns the current state. It may move an open breaker whose
// cool-down is over to half-open (calling OnStateChange), as a call would.
func (b *Breaker) State() State { return State(b.cb.State()) }

// readyToTrip is called by gobreaker after each failure while closed, with
// the counts of the window.
func (s Settings) readyToTrip(c gobreaker.Counts) bool {
	if uint64(c.ConsecutiveFailures) >= uint64(s.ConsecutiveFailures) {
		return true
	}
	if s.FailureRatio <= 0 {
		return false
	}
	completed := c.TotalSuccesses + c.TotalFailures // exclusions left out
	return uint64(completed) >= uint64(s.MinCalls) && float64(c.TotalFailures) >= s.FailureRatio*float64(completed)
}
