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
// check path an increment is a map read and an atomic add, not an SDK call.
// The label sets are bounded by the configuration. Safe for concurrent use.
type counterSet struct {
	labels func(k attrKey) []attribute.KeyValue
	mu     sync.RWMutex
	cells  map[attrKey]*cell
}

type cell struct {
	n   atomic.Int64
	opt metric.ObserveOption
}

func newCounterSet(labels func(attrKey) []attribute.KeyValue) *counterSet {
	return &counterSet{labels: labels, cells: map[attrKey]*cell{}}
}

func (c *counterSet) add(k attrKey) {
	c.mu.RLock()
	cl, ok := c.cells[k]
	c.mu.RUnlock()
	if !ok {
		c.mu.Lock()
		if cl, ok = c.cells[k]; !ok {
			cl = &cell{opt: metric.WithAttributeSet(attribute.NewSet(c.labels(k)...))}
			c.cells[k] = cl
		}
		c.mu.Unlock()
	}
	cl.n.Add(1)
}

// observe reports every cell; it is the instrument's callback.
func (c *counterSet) observe(_ context.Context, o metric.Int64Observer) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, cl := range c.cells {
		o.Observe(cl.n.Load(), cl.opt)
	}
	return nil
}
