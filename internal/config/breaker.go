package config

import (
	"math"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// CircuitBreaker is a tenant's circuit_breaker section. Only signs that the
// authorization server is unwell (connection failures, timeouts, 5xx, 429)
// count as failures.
//
// Its defaults are introspection's Breaker* constants. It is a comparable
// value: a reload keeps a tenant's breaker when this section (and the
// introspection section) is unchanged.
type CircuitBreaker struct {
	Enabled             bool          // default true; false: no breaker at all
	ConsecutiveFailures int           // default 5, >= 1: this many failed calls in a row open it
	FailureRatio        float64       // default 0.5, in (0, 1]: or this share of >= MinCalls calls within Window
	MinCalls            int           // default 20, >= 1
	Window              time.Duration // default 10s, > 0
	CoolDown            time.Duration // default 5s, > 0: open this long, then one probe call
}

// DefaultCircuitBreaker returns the circuit_breaker used when the section
// (or one of its keys) is absent.
func DefaultCircuitBreaker() CircuitBreaker {
	return CircuitBreaker{
		Enabled:             true,
		ConsecutiveFailures: introspection.BreakerConsecutiveFailures,
		FailureRatio:        introspection.BreakerFailureRatio,
		MinCalls:            introspection.BreakerMinCalls,
		Window:              introspection.BreakerWindow,
		CoolDown:            introspection.DefaultBreakerCoolDown,
	}
}

// circuitBreaker decodes parent.circuit_breaker. The thresholds are checked
// even when enabled is false.
func (d *decoder) circuitBreaker(parent *object) CircuitBreaker {
	o := d.object(parent.values["circuit_breaker"], join(parent.path, "circuit_breaker"),
		"enabled", "consecutive_failures", "failure_ratio", "min_calls", "window", "cool_down")
	cb := DefaultCircuitBreaker()
	if v, st := d.boolean(o, "enabled"); st == set {
		cb.Enabled = v
	}
	cb.ConsecutiveFailures = d.intMin(o, "consecutive_failures", introspection.BreakerConsecutiveFailures, 1)
	if v, st := d.float(o, "failure_ratio"); st == set {
		if !(v > 0 && v <= 1) {
			d.errorf(join(o.path, "failure_ratio"), "must be greater than 0 and at most 1")
		}
		cb.FailureRatio = v
	}
	cb.MinCalls = d.intMin(o, "min_calls", introspection.BreakerMinCalls, 1)
	cb.Window = d.durationDefault(o, "window", introspection.BreakerWindow, true)
	cb.CoolDown = d.durationDefault(o, "cool_down", introspection.DefaultBreakerCoolDown, true)
	return cb
}

// numberType is a finite number (an integer is one too).
var numberType = scalarType[float64]{kind: "a number", desc: "a number", tags: []string{"!!float", "!!int"},
	parse: func(v string) (float64, bool) {
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}}

// float decodes a finite number (an integer is one too).
func (d *decoder) float(o *object, key string) (float64, state) { return typed(d, o, key, numberType) }
