package revocation

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// MarkKind is what a marker names: a subject (sub), a session (sid) or an
// e-mail address (the email claim).
type MarkKind string

const (
	MarkSubject MarkKind = "sub"
	MarkSession MarkKind = "sid"
	MarkEmail   MarkKind = "email"
)

// DefaultMaxMarkers bounds the markers a replica holds at once.
const DefaultMaxMarkers = 1 << 20

// ErrMarkersFull says a marker could not be recorded: every slot holds a
// live one. The event must be refused (its sender retries), never dropped.
var ErrMarkersFull = errors.New("revocation markers full")

// Mark is one revocation pushed by the authorization server: the tokens
// of one tenant whose claim Kind equals Value and whose iat is at or
// before At are revoked until Until.
type Mark struct {
	Tenant string   `json:"tenant"`
	Kind   MarkKind `json:"kind"`
	Value  string   `json:"value"`
	At     int64    `json:"at"`    // unix milliseconds
	Until  int64    `json:"until"` // unix milliseconds
}

// NewMark is a Mark of tenant's kind value at time at, lasting ttl from now.
func NewMark(tenant string, kind MarkKind, value string, at, now time.Time, ttl time.Duration) Mark {
	return Mark{Tenant: tenant, Kind: kind, Value: value, At: at.UnixMilli(), Until: now.Add(ttl).UnixMilli()}
}

// Validate reports a Mark that names nothing.
func (m *Mark) Validate() error {
	switch {
	case m.Tenant == "" || m.Value == "":
		return fmt.Errorf("%w: a mark needs a tenant and a value", ErrInvalid)
	case m.Kind != MarkSubject && m.Kind != MarkSession && m.Kind != MarkEmail:
		return fmt.Errorf("%w: unknown mark kind %q", ErrInvalid, m.Kind)
	}
	return nil
}

type markKey struct {
	tenant string
	kind   MarkKind
	value  string
}

type markTimes struct{ at, until int64 }

// Markers are this replica's subject, session and e-mail revocation
// markers, bounded (MaxMarkers) and expiring. Safe for concurrent use; a
// replica without any marker pays one atomic load per check.
type Markers struct {
	mu    sync.RWMutex
	m     map[markKey]markTimes
	kinds map[string]map[MarkKind]int // tenant -> kind -> markers held
	n     atomic.Int64
	max   int
	now   func() time.Time
	swept int64 // unix ms of the last sweep
}

// NewMarkers returns an empty marker set holding at most max markers
// (0: DefaultMaxMarkers); now nil: time.Now.
func NewMarkers(max int, now func() time.Time) *Markers {
	if max <= 0 {
		max = DefaultMaxMarkers
	}
	if now == nil {
		now = time.Now
	}
	return &Markers{m: map[markKey]markTimes{}, kinds: map[string]map[MarkKind]int{}, max: max, now: now}
}

// Add records mk, keeping the later time and the later expiry of a marker
// already held for the same name. A full set first drops the expired
// markers, then refuses with ErrMarkersFull.
func (s *Markers) Add(mk Mark) error {
	if err := mk.Validate(); err != nil {
		return err
	}
	k := markKey{mk.Tenant, mk.Kind, mk.Value}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now().UnixMilli(); now-s.swept > time.Minute.Milliseconds() {
		s.sweepLocked()
	}
	if old, ok := s.m[k]; ok {
		s.m[k] = markTimes{at: max(old.at, mk.At), until: max(old.until, mk.Until)}
		return nil
	}
	if len(s.m) >= s.max {
		s.sweepLocked()
		if len(s.m) >= s.max {
			return ErrMarkersFull
		}
	}
	s.m[k] = markTimes{at: mk.At, until: mk.Until}
	if s.kinds[mk.Tenant] == nil {
		s.kinds[mk.Tenant] = map[MarkKind]int{}
	}
	s.kinds[mk.Tenant][mk.Kind]++
	s.n.Store(int64(len(s.m)))
	return nil
}

// sweepLocked drops the expired markers.
func (s *Markers) sweepLocked() {
	now := s.now().UnixMilli()
	s.swept = now
	for k, t := range s.m {
		if t.until <= now {
			delete(s.m, k)
			if s.kinds[k.tenant][k.kind]--; s.kinds[k.tenant][k.kind] == 0 {
				delete(s.kinds[k.tenant], k.kind)
			}
		}
	}
	s.n.Store(int64(len(s.m)))
}

// Len is the number of markers held (expired ones included until swept).
func (s *Markers) Len() int { return int(s.n.Load()) }

// Revoked reports whether a live marker of tenant covers c: its sub, sid
// or email claim is marked, and its iat is at or before the marker's
// time. A token without iat is never covered (the event evicted it from
// the caches, so it was introspected again since).
func (s *Markers) Revoked(tenant string, c *introspection.Claims) bool {
	if s == nil || s.n.Load() == 0 || c == nil || c.IssuedAt.IsZero() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	kinds := s.kinds[tenant]
	if len(kinds) == 0 {
		return false
	}
	iat, now := c.IssuedAt.UnixMilli(), s.now().UnixMilli()
	check := func(kind MarkKind, value string) bool {
		if value == "" {
			return false
		}
		t, ok := s.m[markKey{tenant, kind, value}]
		return ok && now < t.until && iat <= t.at
	}
	if kinds[MarkSubject] > 0 && check(MarkSubject, c.Subject) {
		return true
	}
	if sid, _ := c.StringClaim("sid"); kinds[MarkSession] > 0 && check(MarkSession, sid) {
		return true
	}
	email, _ := c.StringClaim("email")
	return kinds[MarkEmail] > 0 && check(MarkEmail, email)
}
