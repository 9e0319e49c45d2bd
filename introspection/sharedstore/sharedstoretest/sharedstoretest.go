// Package sharedstoretest is an in-memory sharedstore.Store for tests of
// its users (sharedcache, revocation) that need no Redis: TTLs run on an
// injected clock, published messages reach the subscribers before Publish
// returns, and Fail makes every call fail as a Redis that is down would.
//
// Concurrency: a Store is safe for concurrent use. Ownership: the test
// that makes it owns it; Close only makes later calls fail.
package sharedstoretest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// ErrClosed is what calls return after Close.
var ErrClosed = errors.New("sharedstoretest: closed")

// Store is the in-memory store.
type Store struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]item            // by key
	markers map[string]item            // by markerName; Value: the revocation time
	index   map[string]map[string]item // by indexName: keys (Value unused)
	jtis    map[string]item            // DPoP jtis, by tenant NUL jti
	marks   map[string]time.Time       // event markers: expiry by member
	fail    error
	calls   int
	closed  bool

	// deliver is held (read) while Publish calls handlers and (write) to
	// remove one, so that none is called once its done is closed.
	deliver sync.RWMutex
	subs    map[int]func([]byte)
	nextSub int
}

type item struct {
	value   []byte
	at      time.Time // markers: the revocation time
	expires time.Time
}

var _ sharedstore.Store = (*Store)(nil)

// New returns an empty store whose TTLs run on now (nil: time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, entries: map[string]item{}, markers: map[string]item{},
		index: map[string]map[string]item{}, jtis: map[string]item{}, marks: map[string]time.Time{}, subs: map[int]func([]byte){}}
}

func idName(tokenID string) string { return "id:" + tokenID }
func subName(s sharedstore.Subject) string {
	return "sub:" + s.Tenant + "\x00" + s.UndatedClaim + "\x00" + s.Sub
}

func targetName(t sharedstore.Target) string {
	if !t.Subject.IsZero() {
		return subName(t.Subject)
	}
	return idName(t.TokenID)
}

// Fail makes every later call fail with err (nil: succeed again).
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Calls is how many calls were made (failed ones included).
func (s *Store) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// begin counts a call and returns the error it fails with; mu is held.
func (s *Store) begin() error {
	s.calls++
	if s.closed {
		return ErrClosed
	}
	return s.fail
}

func (s *Store) live(it item, ok bool) bool { return ok && s.now().Before(it.expires) }

// SetRaw stores value under key as-is, for ttl (a forged entry, say).
func (s *Store) SetRaw(key string, value []byte, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[key] = item{value: value, expires: s.now().Add(ttl)}
}

// Raw returns the live entry under key and its remaining TTL.
func (s *Store) Raw(key string) (value []byte, ttl time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, found := s.entries[key]
	if !s.live(it, found) {
		return nil, 0, false
	}
	return it.value, it.expires.Sub(s.now()), true
}

// Marker returns the revocation time of t's live marker and its TTL.
func (s *Store) Marker(t sharedstore.Target) (at time.Time, ttl time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, found := s.markers[targetName(t)]
	if !s.live(it, found) {
		return time.Time{}, 0, false
	}
	return it.at, it.expires.Sub(s.now()), true
}

// Index returns the keys in the live index set of t, with their TTLs.
func (s *Store) Index(t sharedstore.Target) map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Duration{}
	for k, it := range s.index[targetName(t)] {
		if s.live(it, true) {
			out[k] = it.expires.Sub(s.now())
		}
	}
	return out
}

// EntryName implements sharedstore.Entries.
func (s *Store) EntryName(key string) string { return "mem:" + key }

// Get implements sharedstore.Entries.
func (s *Store) Get(_ context.Context, key, tokenID string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return nil, false, err
	}
	if m, ok := s.markers[idName(tokenID)]; s.live(m, ok) {
		return nil, true, nil
	}
	it, ok := s.entries[key]
	if !s.live(it, ok) {
		return nil, false, nil
	}
	return append([]byte{}, it.value...), false, nil
}

// Markers implements sharedstore.Entries.
func (s *Store) Markers(_ context.Context, tokenID string, sub sharedstore.Subject) (sharedstore.Markers, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m sharedstore.Markers
	if err := s.begin(); err != nil {
		return m, err
	}
	if tokenID != "" {
		it, ok := s.markers[idName(tokenID)]
		m.TokenID = s.live(it, ok)
	}
	if !sub.IsZero() {
		if it, ok := s.markers[subName(sub)]; s.live(it, ok) {
			m.Subject, m.SubjectAt = true, it.at
		}
	}
	return m, nil
}

// Put implements sharedstore.Entries.
func (s *Store) Put(_ context.Context, e sharedstore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	now := s.now()
	s.entries[e.Key] = item{value: append([]byte{}, e.Value...), expires: now.Add(e.TTL)}
	add := func(name string) {
		set := s.index[name]
		if set == nil {
			set = map[string]item{}
			s.index[name] = set
		}
		set[e.Key] = item{}
		for k := range set { // PEXPIRE: the whole set lives IndexTTL from now
			set[k] = item{expires: now.Add(e.IndexTTL)}
		}
	}
	if e.TokenID != "" {
		add(idName(e.TokenID))
	}
	if !e.Subject.IsZero() {
		add(subName(e.Subject))
	}
	for _, u := range e.Undated {
		add(subName(u))
	}
	return nil
}

// SeenJTI implements sharedstore.Replays.
func (s *Store) SeenJTI(_ context.Context, tenant, jti string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, errors.New("sharedstoretest: a DPoP jti needs a positive TTL")
	}
	name := tenant + "\x00" + jti
	if it, ok := s.jtis[name]; s.live(it, ok) {
		return true, nil
	}
	s.jtis[name] = item{expires: s.now().Add(ttl)}
	return false, nil
}

// Revoke implements sharedstore.Revocations.
func (s *Store) Revoke(_ context.Context, t sharedstore.Target, at time.Time, ttl time.Duration, keys []string) (tried, deleted []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return nil, nil, err
	}
	now, name := s.now(), targetName(t)
	s.markers[name] = item{at: at, expires: now.Add(ttl)}
	tried, deleted = s.deleteIndexedLocked(name, keys)
	return tried, deleted, nil
}

// Evict implements sharedstore.Revocations.
func (s *Store) Evict(_ context.Context, sub sharedstore.Subject) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return nil, err
	}
	_, deleted := s.deleteIndexedLocked(subName(sub), nil)
	return deleted, nil
}

// deleteIndexedLocked deletes the entries under keys and in the index
// set name, and the set.
func (s *Store) deleteIndexedLocked(name string, keys []string) (tried, deleted []string) {
	tried = append([]string(nil), keys...)
	for k, it := range s.index[name] {
		if s.live(it, true) {
			tried = append(tried, k)
		}
	}
	delete(s.index, name)
	for _, k := range tried {
		if it, ok := s.entries[k]; s.live(it, ok) {
			deleted = append(deleted, k)
		}
		delete(s.entries, k)
	}
	return tried, deleted
}

// Publish implements sharedstore.Revocations: every subscriber has handled
// msg when it returns.
func (s *Store) Publish(_ context.Context, msg []byte) error {
	s.mu.Lock()
	err := s.begin()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.deliver.RLock()
	defer s.deliver.RUnlock()
	for _, h := range s.subs {
		h(append([]byte{}, msg...))
	}
	return nil
}

// Subscribe implements sharedstore.Revocations; the subscription is live
// when it returns.
func (s *Store) Subscribe(ctx context.Context, handle func([]byte)) <-chan struct{} {
	s.deliver.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = handle
	s.deliver.Unlock()
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		s.deliver.Lock()
		delete(s.subs, id)
		s.deliver.Unlock()
		close(done)
	}()
	return done
}

// Subscribers is how many subscriptions are live.
func (s *Store) Subscribers() int {
	s.deliver.RLock()
	defer s.deliver.RUnlock()
	return len(s.subs)
}

// Close implements sharedstore.Store: later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Clock is a manual clock for the Now options of the store's users: it
// moves only when told to, and shows UTC.
type Clock struct{ unixNano atomic.Int64 }

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.unixNano.Store(t.UnixNano())
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.unixNano.Load()).UTC() }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// AddMark implements sharedstore.Revocations (max is not applied).
func (s *Store) AddMark(_ context.Context, mark []byte, until time.Time, _ int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	s.marks[string(mark)] = until
	return nil
}

// LiveMarks implements sharedstore.Revocations.
func (s *Store) LiveMarks(_ context.Context, now time.Time) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return nil, err
	}
	var out [][]byte
	for m, until := range s.marks {
		if until.After(now) {
			out = append(out, []byte(m))
		}
	}
	return out, nil
}
