package sharedcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// replayCache is the DPoP replay cache every replica shares: a
// dpop.ReplayCache on the store's SeenJTI (Redis SET NX), through the
// shared cache's breaker and Timeout, so that a proof replayed at another
// replica is refused too. Safe for concurrent use; it borrows the Shared
// and the store.
type replayCache struct {
	s     *Shared
	store sharedstore.Replays
}

// ReplayCache returns the shared DPoP replay cache on store (the store of
// s's entries), or nil for a nil *Shared: without Redis there is none.
//
// Its errors tell the caller to fall back to its own replica's verdict (a
// replay at another replica then goes unnoticed until the store answers
// again): each is counted in Stats.ReplayFallbacks, and one the breaker
// refused without asking the store wraps dpop.ErrReplayCacheSkipped.
func (s *Shared) ReplayCache(store sharedstore.Replays) dpop.ReplayCache {
	if s == nil || store == nil {
		return nil
	}
	return &replayCache{s: s, store: store}
}

// Seen implements dpop.ReplayCache.
func (r *replayCache) Seen(ctx context.Context, tenant, jti string, ttl time.Duration) (bool, error) {
	s := r.s
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var replayed bool
	err := s.guard(func() (err error) {
		replayed, err = r.store.SeenJTI(ctx, tenant, jti, ttl)
		return err
	})
	if err != nil {
		s.stats.ReplayFallbacks.Add(1)
		if errors.Is(err, errSkipped) {
			return false, fmt.Errorf("shared cache: %w", dpop.ErrReplayCacheSkipped)
		}
		return false, fmt.Errorf("shared cache: DPoP jti: %w", err)
	}
	return replayed, nil
}
