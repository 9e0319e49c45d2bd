package sharedcache

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection/tokenid"
)

// ErrInvalidRevocation marks a Revocation that names no token, or more
// than one kind of match.
var ErrInvalidRevocation = errors.New("invalid revocation")

// ErrUnavailable marks a revocation that evicted locally but could not
// reach Redis: other replicas may still hold the token. Retry it.
var ErrUnavailable = errors.New("shared cache unavailable")

// Revocation names what to evict: exactly one of Token, TokenID (the
// 12-hex-digit token_id of the logs, across tenants), or Tenant with Sub.
type Revocation struct {
	Token   string `json:"token,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	Sub     string `json:"sub,omitempty"`
}

// Kind is "token", "token_id" or "sub"; Validate must have passed.
func (r *Revocation) Kind() string {
	switch {
	case r.Token != "":
		return "token"
	case r.TokenID != "":
		return "token_id"
	default:
		return "sub"
	}
}

// Validate reports a malformed revocation (wrapping ErrInvalidRevocation).
func (r *Revocation) Validate() error {
	n := 0
	if r.Token != "" {
		n++
	}
	if r.TokenID != "" {
		n++
		if len(r.TokenID) != 12 || !isLowerHex(r.TokenID) {
			return fmt.Errorf("%w: token_id must be 12 lowercase hex digits", ErrInvalidRevocation)
		}
	}
	if r.Tenant != "" || r.Sub != "" {
		n++
		if r.Tenant == "" || r.Sub == "" {
			return fmt.Errorf("%w: tenant and sub go together", ErrInvalidRevocation)
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: give exactly one of token, token_id, or tenant with sub", ErrInvalidRevocation)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// message is what a revocation publishes (never the token: its keys and
// token_id).
type message struct {
	Origin  string   `json:"origin"`
	Keys    []string `json:"keys,omitempty"` // hex cache keys
	TokenID string   `json:"token_id,omitempty"`
	Tenant  string   `json:"tenant,omitempty"`
	Sub     string   `json:"sub,omitempty"`
}

// Revoke evicts the matching entries from this replica's local caches and
// from Redis, records the revocation markers, and tells the other replicas
// to evict theirs. It returns how many distinct cache entries it removed.
// Without Redis it evicts locally only. A Redis failure, after the local
// eviction, is an error wrapping ErrUnavailable.
func (s *Shared) Revoke(ctx context.Context, r Revocation) (int, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	set := s.stores.Load()
	if r.Tenant != "" {
		if _, ok := set.byTenant[r.Tenant]; !ok {
			return 0, fmt.Errorf("%w: unknown tenant %q", ErrInvalidRevocation, r.Tenant)
		}
	}
	msg := message{Origin: s.origin, Tenant: r.Tenant, Sub: r.Sub, TokenID: r.TokenID}
	if r.Token != "" {
		msg.TokenID = tokenid.Of(r.Token)
		// This replica's keys; entries written under other fingerprints
		// (other settings, other deployments) are found by token_id.
		for _, st := range set.byTenant {
			msg.Keys = append(msg.Keys, hex.EncodeToString([]byte(st.KeyFor(r.Token))))
		}
	}
	evicted := map[string]struct{}{}
	for k := range s.evictLocal(set, &msg) {
		evicted[k] = struct{}{}
	}
	var err error
	if s.Enabled() {
		var remote []string
		remote, err = s.revokeRemote(ctx, set, &msg)
		for _, k := range remote {
			evicted[k] = struct{}{}
		}
	}
	s.stats.Revocations.Add(1)
	attrs := []any{slog.String("kind", r.Kind()), slog.Int("evicted", len(evicted))}
	switch r.Kind() {
	case "token", "token_id":
		attrs = append(attrs, slog.String("token_id", msg.TokenID))
	case "sub":
		attrs = append(attrs, slog.String("tenant", r.Tenant), slog.String("sub", r.Sub))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		s.log.Error("revocation: evicted locally, the shared cache failed", attrs...)
		return len(evicted), fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.log.Info("revocation", attrs...)
	return len(evicted), nil
}

// evictLocal removes the message's matches from the local stores and
// returns the hex keys of the entries it removed.
func (s *Shared) evictLocal(set *storeSet, m *message) map[string]struct{} {
	out := map[string]struct{}{}
	for name, st := range set.byTenant {
		var keys []string
		for _, k := range m.Keys {
			if raw, err := hex.DecodeString(k); err == nil {
				keys = append(keys, string(raw))
			}
		}
		if m.TokenID != "" {
			keys = append(keys, st.KeysByTokenID(m.TokenID)...)
		}
		if m.Sub != "" && m.Tenant == name {
			keys = append(keys, st.KeysBySubject(m.Sub)...)
		}
		if len(keys) == 0 {
			// Still stop lookups in flight from storing an answer that
			// predates the revocation.
			st.Delete()
			continue
		}
		for _, k := range keys {
			if st.Delete(k) > 0 {
				out[hex.EncodeToString([]byte(k))] = struct{}{}
			}
		}
	}
	return out
}

// revokeRemote writes the marker first (so nothing re-admits the token),
// then deletes the entries Redis holds, then publishes. It returns the hex
// keys it deleted.
func (s *Shared) revokeRemote(ctx context.Context, set *storeSet, m *message) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.AdminTimeout)
	defer cancel()
	ttl := set.markerTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	now := strconv.FormatInt(s.opts.Now().UnixMilli(), 10)
	var marker, index string
	if m.Sub != "" {
		h := subjectHash(m.Tenant, m.Sub)
		marker, index = s.subMarkerKey(h), s.subIndexKey(h)
	} else {
		marker, index = s.idMarkerKey(m.TokenID), s.idIndexKey(m.TokenID)
	}
	if err := s.client.Set(ctx, marker, now, ttl).Err(); err != nil {
		return nil, err
	}
	members, err := s.client.SMembers(ctx, index).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	candidates := append(append([]string(nil), m.Keys...), members...)
	pipe := s.client.Pipeline()
	dels := make([]*redis.IntCmd, len(candidates))
	for i, k := range candidates {
		dels[i] = pipe.Del(ctx, s.entryKey(k)) // one key a command: cluster slots
	}
	pipe.Del(ctx, index)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var deleted []string
	for i, c := range dels {
		if c.Val() > 0 {
			deleted = append(deleted, candidates[i])
		}
	}
	// Other replicas evict the keys found here too (an entry they cached
	// locally may have expired from Redis already).
	pub := *m
	pub.Keys = candidates
	body, _ := json.Marshal(&pub)
	if err := s.client.Publish(ctx, s.channel(), body).Err(); err != nil {
		return deleted, err
	}
	return deleted, nil
}

// subscribe evicts locally what other replicas revoke, until ctx ends.
// go-redis resubscribes by itself after a connection loss.
func (s *Shared) subscribe(ctx context.Context) {
	defer close(s.done)
	ps := s.client.Subscribe(ctx, s.channel())
	defer func() { _ = ps.Close() }() // shutting down: a failed unsubscribe changes nothing
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			s.received(msg.Payload)
		}
	}
}

func (s *Shared) received(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		s.log.Warn("revocation: unreadable message ignored", slog.String("error", err.Error()))
		return
	}
	if m.Origin == s.origin {
		return // evicted when it was made
	}
	n := len(s.evictLocal(s.stores.Load(), &m))
	s.stats.Received.Add(1)
	attrs := []any{slog.Int("evicted", n)}
	if m.Sub != "" {
		attrs = append(attrs, slog.String("kind", "sub"), slog.String("tenant", m.Tenant), slog.String("sub", m.Sub))
	} else {
		attrs = append(attrs, slog.String("token_id", m.TokenID))
	}
	s.log.Info("revocation received", attrs...)
}
