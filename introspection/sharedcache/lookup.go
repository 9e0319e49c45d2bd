package sharedcache

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/breaker"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// The store side of the shared cache: lookups, markers, writes, and the
// breaker every store call goes through.

// errSkipped is a store call the breaker refused: a miss, counted as
// skipped rather than as an error.
var errSkipped = errors.New("shared cache: store skipped while its breaker is open")

// guard runs op unless the breaker refuses it, and tells the breaker how
// op went. Every error counts, timeouts included: a store that does not
// answer within Timeout is as useless to a check as one that is down.
func (s *Shared) guard(op func() error) error {
	call, err := s.breaker.Allow()
	if err != nil {
		return errSkipped
	}
	if err := op(); err != nil {
		s.stats.Errors.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.errorsInRow.Add(1)
		call.Done(breaker.Failure)
		return err
	}
	s.errorsInRow.Store(0)
	call.Done(breaker.Success)
	return nil
}

// breakerChanged logs the breaker's turns that matter to an operator. It
// runs under the breaker's lock: it only logs.
func (s *Shared) breakerChanged(_, to breaker.State) {
	switch to {
	case breaker.Open:
		attrs := []any{slog.Int64("errors_in_row", s.errorsInRow.Load()), slog.Duration("skip_for", s.opts.BreakerCoolDown)}
		if msg := s.lastErr.Load(); msg != nil {
			attrs = append(attrs, slog.String("error", *msg))
		}
		s.log.Warn("shared cache: Redis failing, skipped for a while", attrs...)
	case breaker.Closed:
		s.log.Info("shared cache: Redis answering again")
	}
}

// lookup reads the entry and the token_id marker in one round trip, and
// for an active entry with a subject the subject marker in a second one,
// all within one Timeout. claims is nil on a miss; fake reports an entry
// whose signature does not verify (a miss too).
func (s *Shared) lookup(ctx context.Context, tenant, k, tokenID string) (claims *introspection.Claims, revoked, fake bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var body []byte
	if err := s.guard(func() (err error) {
		body, revoked, err = s.store.Get(ctx, k, tokenID)
		return err
	}); err != nil {
		return nil, false, false, err
	}
	if revoked || body == nil {
		return nil, revoked, false, nil
	}
	body, verdict := s.open(s.store.EntryName(k), body)
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
		var m sharedstore.Markers
		if err := s.guard(func() (err error) {
			m, err = s.store.Markers(ctx, "", sharedstore.Subject{Tenant: tenant, Sub: claims.Subject})
			return err
		}); err != nil {
			return nil, false, false, err
		}
		if revokedBySubject(m, claims) {
			return nil, true, false, nil
		}
	}
	return claims, false, false, nil
}

// isRevoked checks both markers for a fresh answer, within one Timeout.
func (s *Shared) isRevoked(ctx context.Context, tenant, tokenID string, c *introspection.Claims) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var m sharedstore.Markers
	if err := s.guard(func() (err error) {
		m, err = s.store.Markers(ctx, tokenID, sharedstore.Subject{Tenant: tenant, Sub: c.Subject})
		return err
	}); err != nil {
		return false, err
	}
	return m.TokenID || revokedBySubject(m, c), nil
}

// revokedBySubject: a subject marker covers the tokens issued up to its
// time, and those without iat.
func revokedBySubject(m sharedstore.Markers, c *introspection.Claims) bool {
	if !m.Subject {
		return false
	}
	return c.IssuedAt.IsZero() || c.IssuedAt.UnixMilli() <= m.SubjectAt.UnixMilli()
}

// undated are the index sets of c's sid and email when c has no iat (see
// sharedstore.Entry.Undated).
func undated(tenant string, c *introspection.Claims) []sharedstore.Subject {
	var out []sharedstore.Subject
	c.UndatedIDs(func(claim, value string) {
		out = append(out, sharedstore.Subject{Tenant: tenant, Sub: value, UndatedClaim: claim})
	})
	return out
}

// writeAsync stores an answer in the background, bounded by Timeout; it
// never delays the check. Beyond MaxPendingWrites writes in flight it
// gives the answer up.
func (s *Shared) writeAsync(t Tenant, k, tokenID string, c *introspection.Claims) {
	ttl := cache.Lifetime(c, t.MaxTTL, t.NegativeTTL, s.opts.Now) // the local cache's rule
	if ttl <= 0 {
		return
	}
	body, err := json.Marshal(c.RawClaims()) // whole claims, compacted or not
	if err != nil {
		return
	}
	e := sharedstore.Entry{Key: k, Value: s.seal(s.store.EntryName(k), body, s.opts.Now().Add(ttl)), TTL: ttl}
	if c.Active {
		// Indexed for revocations; an inactive answer admits nobody.
		e.TokenID, e.Subject = tokenID, sharedstore.Subject{Tenant: t.Name, Sub: c.Subject}
		e.Undated = undated(t.Name, c)
		e.IndexTTL = max(s.opts.IndexTTL(), ttl)
	}
	select {
	case s.pending <- struct{}{}:
	default:
		return // too many writes pending: this one is given up
	}
	go func() {
		defer func() { <-s.pending }()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		// A failure is counted (and logged when the store keeps failing):
		// a write is best effort.
		if s.guard(func() error { return s.store.Put(ctx, e) }) == nil {
			s.stats.Writes.Add(1)
		}
	}()
}
