package events

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per tenant (golang.org/x/time/rate): perSecond
// events a second, in bursts of at most perSecond. Safe for concurrent use.
type limiter struct {
	mu        sync.Mutex
	perSecond int
	buckets   map[string]*rate.Limiter
}

func newLimiter(perSecond int) *limiter {
	return &limiter{perSecond: perSecond, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token of tenant's bucket, if it has one.
func (l *limiter) allow(tenant string, now time.Time) bool {
	l.mu.Lock()
	b := l.buckets[tenant]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.perSecond), l.perSecond)
		l.buckets[tenant] = b
	}
	l.mu.Unlock()
	return b.AllowN(now, 1)
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
