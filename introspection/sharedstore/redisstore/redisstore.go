// Package redisstore is the go-redis implementation of sharedstore.Store:
// the Redis key layout, and one pipeline per operation. It decides
// nothing: what to read, when to skip Redis and what a marker means are
// sharedcache's and revocation's.
//
// Keys (P is the key prefix, K the hex of cache.Key(tenant, fingerprint,
// token), I the token_id, S the hex of SHA-256 over tenant, NUL, sub):
//
//	P K                 an entry (sharedstore.Entry.Value), with its TTL
//	P "index:id:" I     set of K with that token_id
//	P "index:sub:" S    set of K with that subject
//	P "revoked:id:" I   revocation marker (value: revocation time, unix ms)
//	P "revoked:sub:" S  revocation marker for a subject
//	P "revocations"     pub/sub channel of revocations
//	P "revoked:events"  sorted set of event revocation markers (JSON),
//	                    scored by their expiry (unix ms)
//	P "dpop:jti:" J     a DPoP proof's jti, seen (J: the hex of SHA-256
//	                    over tenant, NUL, jti), with the replay window as TTL
//
// Every command names one key, so that a pipeline works on a Redis
// Cluster too (go-redis splits it by slot).
//
// Concurrency: a Store is safe for concurrent use (go-redis clients are).
// Ownership: a Store owns its client; Close closes it.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// Store is a sharedstore.Store on a Redis (or Redis Cluster) client.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ sharedstore.Store = (*Store)(nil)

// New returns a Store on client whose key names start with keyPrefix. It
// takes client over: Store.Close closes it.
func New(client redis.UniversalClient, keyPrefix string) *Store {
	return &Store{client: client, prefix: keyPrefix}
}

// Key names.
func (s *Store) entryKey(k string) string { return s.prefix + k }
func (s *Store) idIndexKey(tokenID string) string {
	return s.prefix + "index:id:" + tokenID
}
func (s *Store) subIndexKey(sub sharedstore.Subject) string {
	return s.prefix + "index:sub:" + subjectHash(sub)
}
func (s *Store) idMarkerKey(tokenID string) string {
	return s.prefix + "revoked:id:" + tokenID
}
func (s *Store) subMarkerKey(sub sharedstore.Subject) string {
	return s.prefix + "revoked:sub:" + subjectHash(sub)
}
func (s *Store) channel() string  { return s.prefix + "revocations" }
func (s *Store) marksKey() string { return s.prefix + "revoked:events" }
func (s *Store) jtiKey(tenant, jti string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + jti))
	return s.prefix + "dpop:jti:" + hex.EncodeToString(sum[:])
}

// subjectHash names a tenant's subject in keys (a sub may hold any bytes).
func subjectHash(sub sharedstore.Subject) string {
	name := sub.Tenant + "\x00" + sub.Sub
	if sub.UndatedClaim != "" {
		name = sub.Tenant + "\x00" + sub.UndatedClaim + "\x00" + sub.Sub
	}
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// EntryName implements sharedstore.Entries.
func (s *Store) EntryName(key string) string { return s.entryKey(key) }

// Get implements sharedstore.Entries: GET and EXISTS in one pipeline.
func (s *Store) Get(ctx context.Context, key, tokenID string) ([]byte, bool, error) {
	pipe := s.client.Pipeline()
	entry := pipe.Get(ctx, s.entryKey(key))
	marker := pipe.Exists(ctx, s.idMarkerKey(tokenID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("redis: reading an entry: %w", err)
	}
	if marker.Val() > 0 {
		return nil, true, nil
	}
	body, err := entry.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: reading an entry: %w", err)
	}
	if body == nil {
		body = []byte{} // an empty value is an entry (unreadable), not a miss
	}
	return body, false, nil
}

// Markers implements sharedstore.Entries.
func (s *Store) Markers(ctx context.Context, tokenID string, sub sharedstore.Subject) (sharedstore.Markers, error) {
	var m sharedstore.Markers
	if tokenID == "" && sub.IsZero() {
		return m, nil
	}
	pipe := s.client.Pipeline()
	var idMarker *redis.IntCmd
	var subMarker *redis.StringCmd
	if tokenID != "" {
		idMarker = pipe.Exists(ctx, s.idMarkerKey(tokenID))
	}
	if !sub.IsZero() {
		subMarker = pipe.Get(ctx, s.subMarkerKey(sub))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return m, fmt.Errorf("redis: reading revocation markers: %w", err)
	}
	m.TokenID = idMarker != nil && idMarker.Val() > 0
	if subMarker != nil {
		if v, err := subMarker.Result(); err == nil {
			m.Subject = true
			m.SubjectAt = time.UnixMilli(math.MaxInt64) // unreadable: every token (fail closed)
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				m.SubjectAt = time.UnixMilli(ms)
			}
		}
	}
	return m, nil
}

// Put implements sharedstore.Entries.
func (s *Store) Put(ctx context.Context, e sharedstore.Entry) error {
	pipe := s.client.Pipeline()
	pipe.Set(ctx, s.entryKey(e.Key), e.Value, e.TTL)
	index := func(name string) {
		pipe.SAdd(ctx, name, e.Key)
		pipe.PExpire(ctx, name, e.IndexTTL)
	}
	if e.TokenID != "" {
		index(s.idIndexKey(e.TokenID))
	}
	if !e.Subject.IsZero() {
		index(s.subIndexKey(e.Subject))
	}
	for _, u := range e.Undated {
		index(s.subIndexKey(u))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: writing an entry: %w", err)
	}
	return nil
}

// SeenJTI implements sharedstore.Replays: SET NX with the TTL, whose nil
// reply (the key exists) means replayed.
func (s *Store) SeenJTI(ctx context.Context, tenant, jti string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redis: a DPoP jti needs a positive TTL")
	}
	fresh, err := s.client.SetNX(ctx, s.jtiKey(tenant, jti), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: recording a DPoP jti: %w", err)
	}
	return !fresh, nil
}

// Revoke implements sharedstore.Revocations. The marker comes first, so
// that nothing re-admits the token while the entries are being deleted.
func (s *Store) Revoke(ctx context.Context, t sharedstore.Target, at time.Time, ttl time.Duration, keys []string) (tried, deleted []string, err error) {
	var marker, index string
	if !t.Subject.IsZero() {
		marker, index = s.subMarkerKey(t.Subject), s.subIndexKey(t.Subject)
	} else {
		marker, index = s.idMarkerKey(t.TokenID), s.idIndexKey(t.TokenID)
	}
	if err := s.client.Set(ctx, marker, strconv.FormatInt(at.UnixMilli(), 10), ttl).Err(); err != nil {
		return nil, nil, fmt.Errorf("redis: writing the revocation marker: %w", err)
	}
	return s.deleteIndexed(ctx, index, keys)
}

// Evict implements sharedstore.Revocations.
func (s *Store) Evict(ctx context.Context, sub sharedstore.Subject) ([]string, error) {
	_, deleted, err := s.deleteIndexed(ctx, s.subIndexKey(sub), nil)
	return deleted, err
}

// deleteIndexed deletes the entries under keys and under the index set,
// and the set; it returns the keys tried and those deleted.
func (s *Store) deleteIndexed(ctx context.Context, index string, keys []string) (tried, deleted []string, err error) {
	members, err := s.client.SMembers(ctx, index).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redis: reading the index: %w", err)
	}
	tried = append(append([]string(nil), keys...), members...)
	pipe := s.client.Pipeline()
	dels := make([]*redis.IntCmd, len(tried))
	for i, k := range tried {
		dels[i] = pipe.Del(ctx, s.entryKey(k)) // one key a command: cluster slots
	}
	pipe.Del(ctx, index)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("redis: deleting entries: %w", err)
	}
	for i, c := range dels {
		if c.Val() > 0 {
			deleted = append(deleted, tried[i])
		}
	}
	return tried, deleted, nil
}

// AddMark implements sharedstore.Revocations, in one pipeline on one key.
func (s *Store) AddMark(ctx context.Context, mark []byte, until time.Time, max int) error {
	key := s.marksKey()
	pipe := s.client.Pipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(until.UnixMilli()), Member: string(mark)})
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(time.Now().UnixMilli(), 10))
	if max > 0 {
		pipe.ZRemRangeByRank(ctx, key, 0, int64(-max-1))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: writing an event marker: %w", err)
	}
	return nil
}

// LiveMarks implements sharedstore.Revocations.
func (s *Store) LiveMarks(ctx context.Context, now time.Time) ([][]byte, error) {
	vals, err := s.client.ZRangeByScore(ctx, s.marksKey(), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis: reading the event markers: %w", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// Publish implements sharedstore.Revocations.
func (s *Store) Publish(ctx context.Context, msg []byte) error {
	if err := s.client.Publish(ctx, s.channel(), msg).Err(); err != nil {
		return fmt.Errorf("redis: publishing a revocation: %w", err)
	}
	return nil
}

// Subscribe implements sharedstore.Revocations. The subscription is made
// in the goroutine, so that a Redis that is down does not hold the caller
// up; go-redis resubscribes by itself after a connection loss.
func (s *Store) Subscribe(ctx context.Context, handle func(msg []byte)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
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
				handle([]byte(msg.Payload))
			}
		}
	}()
	return done
}

// Close implements sharedstore.Store: it closes the client.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redis: closing the client: %w", err)
	}
	return nil
}
