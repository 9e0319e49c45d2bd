package events

import (
	"sync"
	"time"
)

// limiter is a token bucket per tenant: rate events a second, bursts of
// rate.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate int) *limiter {
	return &limiter{rate: float64(rate), buckets: map[string]*bucket{}}
}

// allow takes one token of tenant's bucket, if it has one.
func (l *limiter) allow(tenant string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[tenant]
	if b == nil {
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[tenant] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.rate, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// retain drops the buckets of tenants not in names.
func (l *limiter) retain(names map[string]*endpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := range l.buckets {
		if names[n] == nil {
			delete(l.buckets, n)
		}
	}
}
