package sharedcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
)

// The Redis side of the shared cache: key names, lookups, markers and writes.

// Key names.
func (s *Shared) entryKey(k string) string          { return s.opts.KeyPrefix + k }
func (s *Shared) idIndexKey(tokenID string) string  { return s.opts.KeyPrefix + "index:id:" + tokenID }
func (s *Shared) subIndexKey(subHash string) string { return s.opts.KeyPrefix + "index:sub:" + subHash }
func (s *Shared) idMarkerKey(tokenID string) string {
	return s.opts.KeyPrefix + "revoked:id:" + tokenID
}
func (s *Shared) subMarkerKey(subHash string) string {
	return s.opts.KeyPrefix + "revoked:sub:" + subHash
}
func (s *Shared) channel() string { return s.opts.KeyPrefix + "revocations" }

// subjectHash names a tenant's subject in keys (a sub may hold any bytes).
func subjectHash(tenant, sub string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + sub))
	return hex.EncodeToString(sum[:])
}

// lookup reads the entry and the token_id marker in one round trip, and
// for an active entry with a subject the subject marker in a second one,
// all within one Timeout. claims is nil on a miss; fake reports an entry
// whose signature does not verify (a miss too).
func (s *Shared) lookup(ctx context.Context, tenant, k, tokenID string) (claims *introspection.Claims, revoked, fake bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	entry := pipe.Get(ctx, s.entryKey(k))
	marker := pipe.Exists(ctx, s.idMarkerKey(tokenID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, false, s.failed(err)
	}
	s.succeeded()
	if marker.Val() > 0 {
		return nil, true, false, nil
	}
	body, err := entry.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, s.failed(err)
	}
	body, verdict := s.open(s.entryKey(k), body)
	switch verdict {
	case forged:
		s.log.Warn("shared cache: entry without a valid signature, ignored", slog.String("tenant", tenant), slog.String("token_id", tokenID))
		return nil, false, true, nil
	case expired:
		return nil, false, false, nil
	}
	claims, err = introspection.ParseClaims(body)
	if err != nil {
		// Not something this version wrote: a miss.
		s.log.Warn("shared cache: unreadable entry, ignored", slog.String("tenant", tenant), slog.String("error", err.Error()))
		return nil, false, false, nil
	}
	if claims.Active && claims.Subject != "" {
		revoked, err := s.subjectRevoked(ctx, tenant, claims)
		if err != nil {
			return nil, false, false, err
		}
		if revoked {
			return nil, true, false, nil
		}
	}
	return claims, false, false, nil
}

// isRevoked checks both markers for a fresh answer, within one Timeout.
func (s *Shared) isRevoked(ctx context.Context, tenant, tokenID string, c *introspection.Claims) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	idMarker := pipe.Exists(ctx, s.idMarkerKey(tokenID))
	var subMarker *redis.StringCmd
	if c.Subject != "" {
		subMarker = pipe.Get(ctx, s.subMarkerKey(subjectHash(tenant, c.Subject)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, s.failed(err)
	}
	s.succeeded()
	if idMarker.Val() > 0 {
		return true, nil
	}
	return subMarker != nil && revokedBySubject(subMarker, c), nil
}

func (s *Shared) subjectRevoked(ctx context.Context, tenant string, c *introspection.Claims) (bool, error) {
	cmd := s.client.Get(ctx, s.subMarkerKey(subjectHash(tenant, c.Subject)))
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, s.failed(err)
	}
	s.succeeded()
	return revokedBySubject(cmd, c), nil
}

// revokedBySubject: a subject marker holds the revocation time (unix ms);
// it covers the tokens issued up to then, and those without iat.
func revokedBySubject(cmd *redis.StringCmd, c *introspection.Claims) bool {
	v, err := cmd.Result()
	if err != nil {
		return false
	}
	at, err := strconv.ParseInt(v, 10, 64)
	if err != nil || c.IssuedAt.IsZero() {
		return true
	}
	return c.IssuedAt.UnixMilli() <= at
}

// writeAsync stores an answer in the background, bounded by Timeout; it
// never delays the check.
func (s *Shared) writeAsync(t Tenant, k, tokenID string, c *introspection.Claims) {
	ttl := cache.Lifetime(c, t.MaxTTL, t.NegativeTTL, s.opts.Now) // the local cache's rule
	if ttl <= 0 {
		return
	}
	body, err := json.Marshal(c.Raw)
	if err != nil {
		return
	}
	body = s.seal(s.entryKey(k), body, s.opts.Now().Add(ttl))
	select {
	case s.pending <- struct{}{}:
	default:
		return // too many writes pending: this one is given up
	}
	markerTTL := s.stores.Load().markerTTL
	go func() {
		defer func() { <-s.pending }()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		pipe := s.client.Pipeline()
		pipe.Set(ctx, s.entryKey(k), body, ttl)
		if c.Active {
			indexTTL := max(markerTTL, ttl)
			idx := s.idIndexKey(tokenID)
			pipe.SAdd(ctx, idx, k)
			pipe.PExpire(ctx, idx, indexTTL)
			if c.Subject != "" {
				idx := s.subIndexKey(subjectHash(t.Name, c.Subject))
				pipe.SAdd(ctx, idx, k)
				pipe.PExpire(ctx, idx, indexTTL)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			_ = s.failed(err) // counted (and logged when Redis keeps failing): a write is best effort
			return
		}
		s.succeeded()
		s.stats.Writes.Add(1)
	}()
}

// usable is false while the breaker is open.
func (s *Shared) usable() bool {
	return s.opts.Now().UnixNano() >= s.openUntil.Load()
}

func (s *Shared) failed(err error) error {
	s.stats.Errors.Add(1)
	if n := s.errorsInRow.Add(1); n >= int64(s.opts.BreakerThreshold) {
		now := s.opts.Now()
		if old := s.openUntil.Load(); old <= now.UnixNano() &&
			s.openUntil.CompareAndSwap(old, now.Add(s.opts.BreakerCoolDown).UnixNano()) {
			s.log.Warn("shared cache: Redis failing, skipped for a while",
				slog.Int64("errors_in_row", n), slog.Duration("skip_for", s.opts.BreakerCoolDown),
				slog.String("error", err.Error()))
		}
	}
	return err
}

func (s *Shared) succeeded() {
	if s.errorsInRow.Swap(0) >= int64(s.opts.BreakerThreshold) {
		s.log.Info("shared cache: Redis answering again")
	}
}
