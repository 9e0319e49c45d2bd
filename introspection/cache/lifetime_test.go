package cache

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

func TestLifetime(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name   string
		claims introspection.Claims
		want   time.Duration
	}{
		{"inactive", introspection.Claims{}, 10 * time.Second},
		{"no exp", introspection.Claims{Active: true}, 5 * time.Minute},
		{"exp sooner", introspection.Claims{Active: true, Expiry: now.Add(time.Minute)}, time.Minute},
		{"exp later", introspection.Claims{Active: true, Expiry: now.Add(time.Hour)}, 5 * time.Minute},
		{"expired", introspection.Claims{Active: true, Expiry: now.Add(-time.Second)}, -time.Second},
	} {
		if got := Lifetime(&tc.claims, 5*time.Minute, 10*time.Second, clock); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
