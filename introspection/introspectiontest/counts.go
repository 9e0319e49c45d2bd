package introspectiontest

import (
	"sync"
	"sync/atomic"
)

// counts are what a Server and an Introspector count: requests (calls) per
// token and in total, and how many are answered at once. Its methods are
// safe for concurrent use.
type counts struct {
	callsMu sync.Mutex
	calls   map[string]int
	total   atomic.Int64
	now     atomic.Int64
	peak    atomic.Int64
}

// enter counts one more request about token, in flight until the returned
// func is called.
func (c *counts) enter(token string) (leave func()) {
	c.total.Add(1)
	c.callsMu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[token]++
	c.callsMu.Unlock()
	n := c.now.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	return func() { c.now.Add(-1) }
}

// Calls is the number of requests (calls) about token so far, counted as
// they arrive.
func (c *counts) Calls(token string) int {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	return c.calls[token]
}

// Total is the number of requests (calls) so far, whatever their token.
func (c *counts) Total() int64 { return c.total.Load() }

// InFlight is the number of requests (calls) being answered now.
func (c *counts) InFlight() int64 { return c.now.Load() }

// PeakInFlight is the largest number of requests (calls) answered at once
// so far.
func (c *counts) PeakInFlight() int64 { return c.peak.Load() }

// ResetPeak starts a new PeakInFlight measurement at InFlight.
func (c *counts) ResetPeak() { c.peak.Store(c.now.Load()) }

// guarded runs set with mu held: the fakes' setters.
func guarded(mu *sync.Mutex, set func()) {
	mu.Lock()
	defer mu.Unlock()
	set()
}
