package introspection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokengate/tokengate/introspection/breaker"
)

// ErrCircuitOpen marks a call refused without asking the authorization
// server because the tenant's circuit breaker is open, or half-open with
// its probe still in flight (see Breaker). Such errors also wrap
// ErrIntrospection, so a check fails closed on them (503).
var ErrCircuitOpen = errors.New("circuit breaker open")

// The breaker's default thresholds (the circuit_breaker config keys'
// defaults), used for the BreakerOptions fields left at 0. They suit an
// introspection endpoint, which answers in milliseconds when healthy.
const (
	// BreakerConsecutiveFailures failures in a row open the breaker.
	BreakerConsecutiveFailures = 5
	// BreakerFailureRatio of the calls that completed within
	// BreakerWindow, once there are at least BreakerMinCalls of them, also
	// opens it: a server failing every other call is broken too, even though
	// it never fails five times in a row.
	BreakerFailureRatio = 0.5
	// BreakerMinCalls is how many completed calls the ratio needs.
	BreakerMinCalls = 20
	// BreakerWindow is the rolling window (ten buckets) over which a
	// closed breaker counts calls.
	BreakerWindow = 10 * time.Second
	// DefaultBreakerCoolDown is how long an open breaker refuses calls
	// before it lets a probe through (BreakerOptions.CoolDown).
	DefaultBreakerCoolDown = 5 * time.Second
	// BreakerProbes is how many calls a half-open breaker lets through at
	// once; that many successes in a row close it, and one failure opens
	// it again for another cool-down.
	BreakerProbes = 1
)

// BreakerState is a breaker's state (breaker.State, the one breaker type
// of tokengate); the numbers are the values of the
// tokengate_circuit_breaker_state gauge.
type BreakerState = breaker.State

const (
	BreakerClosed   = breaker.Closed   // calls go through
	BreakerHalfOpen = breaker.HalfOpen // BreakerProbes calls at a time go through
	BreakerOpen     = breaker.Open     // calls fail fast with ErrCircuitOpen
)

// BreakerOptions configures a CircuitBreaker (a tenant's circuit_breaker
// settings). The zero value is usable: a 0 threshold means its default.
type BreakerOptions struct {
	// Tenant names the breaker in logs and errors.
	Tenant string
	// Disabled turns the breaker off: its Middleware returns next as is,
	// and State is always BreakerClosed.
	Disabled bool
	// ConsecutiveFailures failures in a row open the breaker; 0 means
	// BreakerConsecutiveFailures.
	ConsecutiveFailures int
	// FailureRatio of the calls completed within Window, once there are at
	// least MinCalls of them, also opens it; 0 means BreakerFailureRatio.
	FailureRatio float64
	// MinCalls is how many completed calls the ratio needs; 0 means
	// BreakerMinCalls.
	MinCalls int
	// Window is the rolling window (ten buckets) of the ratio's counts; 0
	// means BreakerWindow.
	Window time.Duration
	// CoolDown is how long the breaker stays open before a probe call; 0
	// means DefaultBreakerCoolDown.
	CoolDown time.Duration
	// Logger gets one line per state change (Warn when it opens, Info
	// otherwise) with the tenant and the from/to states; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnStateChange, when set, is called after the log line on every state
	// change. It runs under the breaker's lock (a gobreaker property), so it
	// must be quick and must not call the breaker's methods: that deadlocks.
	OnStateChange func(tenant string, from, to BreakerState)
}

// CircuitBreaker holds one tenant's breaker state (a breaker.Breaker with
// the thresholds above). Its Middleware puts it in front of an
// Introspector; the state lives here, not in the layer, so that it can
// outlive a chain that is rebuilt (a config reload that keeps the tenant's
// client keeps its breaker too). It is safe for concurrent use.
type CircuitBreaker struct {
	// cb is nil when the breaker is disabled.
	cb       *breaker.Breaker
	errOpen  error // returned as is: the open path allocates nothing
	errProbe error
}

// NewCircuitBreaker returns a closed breaker.
func NewCircuitBreaker(opts BreakerOptions) *CircuitBreaker {
	if opts.Disabled {
		return &CircuitBreaker{}
	}
	opts = opts.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	tenant := tenantPrefix(opts.Tenant)
	return &CircuitBreaker{
		errOpen: fmt.Errorf("%w: %s%w: the authorization server failed repeatedly; calling it again after a %s cool-down",
			ErrIntrospection, tenant, ErrCircuitOpen, opts.CoolDown),
		errProbe: fmt.Errorf("%w: %s%w: half-open, a probe call to the authorization server is in flight",
			ErrIntrospection, tenant, ErrCircuitOpen),
		cb: breaker.New(breaker.Settings{
			Name:                opts.Tenant,
			ConsecutiveFailures: opts.ConsecutiveFailures,
			FailureRatio:        opts.FailureRatio,
			MinCalls:            opts.MinCalls,
			Window:              opts.Window,
			CoolDown:            opts.CoolDown,
			Probes:              BreakerProbes,
			OnStateChange: func(from, to BreakerState) {
				level := slog.LevelInfo
				if to == BreakerOpen {
					level = slog.LevelWarn
				}
				log.Log(context.Background(), level, "circuit breaker state changed",
					slog.String("tenant", opts.Tenant), slog.String("from", from.String()), slog.String("to", to.String()),
					slog.Duration("cool_down", opts.CoolDown))
				if opts.OnStateChange != nil {
					opts.OnStateChange(opts.Tenant, from, to)
				}
			},
		}),
	}
}

// withDefaults fills the thresholds left at 0 (or below) with the defaults.
func (o BreakerOptions) withDefaults() BreakerOptions {
	if o.ConsecutiveFailures <= 0 {
		o.ConsecutiveFailures = BreakerConsecutiveFailures
	}
	if o.FailureRatio <= 0 {
		o.FailureRatio = BreakerFailureRatio
	}
	if o.MinCalls <= 0 {
		o.MinCalls = BreakerMinCalls
	}
	if o.Window <= 0 {
		o.Window = BreakerWindow
	}
	if o.CoolDown <= 0 {
		o.CoolDown = DefaultBreakerCoolDown
	}
	return o
}

// Middleware is the breaker's layer: the Introspector it returns asks
// next only while the breaker lets it (a disabled breaker returns next as
// is). Closed, every call goes
// through; ConsecutiveFailures failures in a row, or FailureRatio of at
// least MinCalls calls within Window, open it. Open, calls fail at once
// with an error wrapping ErrIntrospection and ErrCircuitOpen, and next is
// not called. After the cool-down it is half-open: BreakerProbes calls go
// through, and their success closes it while a failure opens it again.
//
// What counts as a failure: only signs that the server is unwell, that is
// an error wrapping ErrServerUnavailable (a connection failure, 5xx, 429)
// or context.DeadlineExceeded (a timeout: the deadline given to next is the
// budget the server had). A success: a nil error, an inactive token
// included, and also any other error wrapping ErrIntrospection, such as a
// 4xx, a redirect, or a body that is not JSON or not of the right shape.
// Those are answers about one token, which anyone can provoke by sending
// such a token: counting them would let anyone open the breaker, and so
// deny every uncached token of the tenant. A server that answers is alive,
// so they break a run of failures, and an answer to a probe closes the
// breaker. Excluded, neither success nor failure: the caller cancelling ctx
// (that says nothing about the server, and counting it a success would let
// a cancelled probe close the breaker), ErrConcurrencyLimit (our own queue,
// not the server's answer: the calls holding the slots report on the
// server), ErrCircuitOpen from a breaker further down, and any error not
// wrapping ErrIntrospection.
//
// Every Introspector the Middleware returns shares b's state, so a chain
// rebuilt on reload around the same CircuitBreaker keeps it (an open
// breaker stays open). They are safe for concurrent use if next is.
func (b *CircuitBreaker) Middleware() Middleware {
	return func(next Introspector) Introspector {
		if b.cb == nil {
			return next
		}
		return &guarded{b: b, next: next}
	}
}

// Enabled reports whether the breaker was built without Disabled.
func (b *CircuitBreaker) Enabled() bool { return b.cb != nil }

// State returns the current state (BreakerClosed when disabled). It may
// move an open breaker whose cool-down is over to half-open (and log that),
// as a call would.
func (b *CircuitBreaker) State() BreakerState {
	if b.cb == nil {
		return BreakerClosed
	}
	return b.cb.State()
}

// guarded is the breaker's layer in front of next.
type guarded struct {
	b    *CircuitBreaker
	next Introspector
}

func (g *guarded) Introspect(ctx context.Context, token string) (Result, error) {
	call, err := g.b.cb.Allow()
	if err != nil {
		if errors.Is(err, breaker.ErrProbeInFlight) {
			return Result{}, g.b.errProbe
		}
		return Result{}, g.b.errOpen
	}
	// The outcome is reported even if next panics (as a failure):
	// otherwise a half-open breaker would wait forever for its probe.
	outcome := breaker.Failure
	defer func() { call.Done(outcome) }()
	res, err := g.next.Introspect(ctx, token)
	outcome = classify(ctx, err)
	return res, err
}

// classify maps next's answer to what the breaker counts (see Middleware).
func classify(ctx context.Context, err error) breaker.Outcome {
	switch {
	case err == nil:
		return breaker.Success
	case errors.Is(ctx.Err(), context.Canceled),
		errors.Is(err, ErrConcurrencyLimit),
		errors.Is(err, ErrCircuitOpen),
		!errors.Is(err, ErrIntrospection):
		return breaker.Excluded
	case errors.Is(err, ErrServerUnavailable), errors.Is(err, context.DeadlineExceeded):
		return breaker.Failure
	}
	return breaker.Success // the server answered, about this token
}
