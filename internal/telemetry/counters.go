package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// counterSet is a monotonic counter kept as one atomic cell per label set
// and reported to OpenTelemetry only when metrics are collected: on the
// check path an increment is a lookup and an atomic add, not an SDK call.
// The label sets are bounded by the configuration, so the cells are
// copied into a new map when one is added (rarely) and read without a
// lock; the cell used last is tried first, which saves hashing the key
// when checks keep landing on one route. Safe for concurrent use.
type counterSet struct {
	labels func(k attrKey) []attribute.KeyValue
	cells  atomic.Pointer[map[attrKey]*cell] // read only once published
	last   atomic.Pointer[cell]
	mu     sync.Mutex // serializes adding cells
}

type cell struct {
	key attrKey
	n   atomic.Int64
	opt metric.ObserveOption
}

func newCounterSet(labels func(attrKey) []attribute.KeyValue) *counterSet {
	c := &counterSet{labels: labels}
	c.cells.Store(&map[attrKey]*cell{})
	return c
}

func (c *counterSet) add(k attrKey) {
	if cl := c.last.Load(); cl != nil && cl.key == k {
		cl.n.Add(1)
		return
	}
	cl, ok := (*c.cells.Load())[k]
	if !ok {
		cl = c.newCell(k)
	}
	cl.n.Add(1)
	c.last.Store(cl)
}

// newCell returns k's cell, adding it to a copy of the cells.
func (c *counterSet) newCell(k attrKey) *cell {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.cells.Load()
	if cl, ok := old[k]; ok {
		return cl
	}
	cl := &cell{key: k, opt: metric.WithAttributeSet(attribute.NewSet(c.labels(k)...))}
	cells := make(map[attrKey]*cell, len(old)+1)
	for key, v := range old {
		cells[key] = v
	}
	cells[k] = cl
	c.cells.Store(&cells)
	return cl
}

// observe reports every cell; it is the instrument's callback.
func (c *counterSet) observe(_ context.Context, o metric.Int64Observer) error {
	for _, cl := range *c.cells.Load() {
		o.Observe(cl.n.Load(), cl.opt)
	}
	return nil
}
