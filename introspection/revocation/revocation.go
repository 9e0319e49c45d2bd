// Package revocation evicts revoked tokens: from this replica's local
// caches (a cache.Store per tenant) and, when a shared store (Redis) is
// configured, from the shared cache too, with a marker that stops every
// replica from re-admitting the token (sharedcache reads it) and a message
// that makes the other replicas evict their local copies. Without a shared
// store the same code runs against one that holds nothing, so a revocation
// evicts this replica's caches only.
//
// Concurrency: a Revoker is safe for concurrent use; SetStores may run
// while revocations are made and received. Ownership: a Revoker owns its
// subscription (a goroutine, stopped by Close), not the shared store (its
// maker closes it after Close) nor the local stores (the tenants' runtimes
// own them; SetStores lends them after each load).
package revocation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/sharedstore"
	"github.com/tokengate/tokengate/introspection/tokenid"
)

// DefaultTimeout bounds the shared store's part of a revocation: an
// operator's call, not in any check's path, so longer than a lookup's.
const DefaultTimeout = 2 * time.Second

// fallbackMarkerTTL is how long markers live while no tenant caches.
const fallbackMarkerTTL = time.Minute

// Options configures a Revoker.
type Options struct {
	// Store is the shared store; nil: this replica's local caches only.
	Store sharedstore.Revocations
	// Timeout bounds the shared store's part of a revocation; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger     // nil: nothing logged
	Now     func() time.Time // nil: time.Now
	// MaxMarkers bounds the subject/session markers held (Mark); 0:
	// DefaultMaxMarkers.
	MaxMarkers int
}

// Stats are a Revoker's counters since it was made.
type Stats struct {
	// Revocations counts revocations made here, Received those other
	// replicas made.
	Revocations, Received atomic.Int64
}

// Revoker makes and receives revocations.
type Revoker struct {
	opts   Options
	origin string // this replica's id in published messages
	stats  Stats
	stores atomic.Pointer[storeSet]
	marks  *Markers // pushed revocations (mark.go)
	cancel context.CancelFunc
	done   <-chan struct{}
}

// storeSet is the local stores revocations evict from, per tenant, and the
// lifetime of markers and index sets (the longest max_ttl).
type storeSet struct {
	byTenant  map[string]*cache.Store
	markerTTL time.Duration
}

// message is what a revocation publishes (never the token: its keys and
// token_id). Its JSON is what replicas of other versions read too.
type message struct {
	Origin  string   `json:"origin"`
	Keys    []string `json:"keys,omitempty"` // hex cache keys
	TokenID string   `json:"token_id,omitempty"`
	Tenant  string   `json:"tenant,omitempty"`
	Sub     string   `json:"sub,omitempty"`
	// Marks are revocation markers to record (mark.go); Tenant and Sub
	// are then left empty, so that versions without markers ignore them.
	Marks []Mark `json:"marks,omitempty"`
}

// New returns a Revoker and starts receiving the revocations other
// replicas publish. Close stops that.
func New(o Options) *Revoker {
	if o.Store == nil {
		o.Store = localOnly{}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Revoker{opts: o, origin: rand.Text(), marks: NewMarkers(o.MaxMarkers, o.Now)}
	r.stores.Store(&storeSet{})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = o.Store.Subscribe(ctx, r.received)
	return r
}

// Close stops receiving revocations and waits until it has.
func (r *Revoker) Close() {
	r.cancel()
	<-r.done
}

// Stats returns the counters.
func (r *Revoker) Stats() *Stats { return &r.stats }

// SetStores tells r the local cache stores of the current configuration,
// per tenant. Called after every (re)load.
func (r *Revoker) SetStores(stores map[string]*cache.Store) {
	set := &storeSet{byTenant: stores}
	for _, st := range stores {
		set.markerTTL = max(set.markerTTL, st.Options().MaxTTL)
	}
	r.stores.Store(set)
}

// MarkerTTL is how long markers live: the longest max_ttl of the tenants,
// so that no cached answer outlives its marker. The shared cache keeps its
// index sets that long too, for revocations to find the entries.
func (r *Revoker) MarkerTTL() time.Duration { return r.stores.Load().markerTTL }

// Revoke evicts the matching entries from this replica's local caches and
// from the shared store, records the revocation marker, and tells the
// other replicas to evict theirs. It returns how many distinct cache
// entries it removed. A shared-store failure, after the local eviction, is
// an error wrapping ErrUnavailable; a bad request one wrapping ErrInvalid.
func (r *Revoker) Revoke(ctx context.Context, req Request) (int, error) {
	if err := req.Validate(); err != nil {
		return 0, err
	}
	set := r.stores.Load()
	if req.Tenant != "" {
		if _, ok := set.byTenant[req.Tenant]; !ok {
			return 0, fmt.Errorf("%w: unknown tenant %q", ErrInvalid, req.Tenant)
		}
	}
	msg := message{Origin: r.origin, Tenant: req.Tenant, Sub: req.Sub, TokenID: req.TokenID}
	if req.Token != "" {
		msg.TokenID = tokenid.Of(req.Token)
		// This replica's keys; entries written under other fingerprints
		// (other settings, other deployments) are found by token_id.
		for _, st := range set.byTenant {
			msg.Keys = append(msg.Keys, hex.EncodeToString([]byte(st.KeyFor(req.Token))))
		}
	}
	evicted := evictLocal(set, &msg)
	remote, err := r.revokeShared(ctx, set, &msg)
	for _, k := range remote {
		evicted[k] = struct{}{}
	}
	r.stats.Revocations.Add(1)
	attrs := []any{slog.String("kind", req.Kind()), slog.Int("evicted", len(evicted))}
	if req.Sub != "" {
		attrs = append(attrs, slog.String("tenant", req.Tenant), slog.String("sub", req.Sub))
	} else {
		attrs = append(attrs, slog.String("token_id", msg.TokenID)) // never the token
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		r.opts.Logger.Error("revocation: evicted locally, the shared cache failed", attrs...)
		return len(evicted), fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r.opts.Logger.Info("revocation", attrs...)
	return len(evicted), nil
}

// revokeShared writes the marker and deletes the shared entries, then
// publishes. It returns the hex keys it deleted.
func (r *Revoker) revokeShared(ctx context.Context, set *storeSet, m *message) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	ttl := set.markerTTL
	if ttl <= 0 {
		ttl = fallbackMarkerTTL
	}
	target := sharedstore.Target{TokenID: m.TokenID}
	if m.Sub != "" {
		target = sharedstore.Target{Subject: sharedstore.Subject{Tenant: m.Tenant, Sub: m.Sub}}
	}
	tried, deleted, err := r.opts.Store.Revoke(ctx, target, r.opts.Now(), ttl, m.Keys)
	if err != nil {
		return nil, err
	}
	// Other replicas evict the keys found here too (an entry they cached
	// locally may have expired from the shared store already).
	pub := *m
	pub.Keys = tried
	body, err := json.Marshal(&pub)
	if err != nil {
		return deleted, fmt.Errorf("revocation message: %w", err)
	}
	return deleted, r.opts.Store.Publish(ctx, body)
}

// evictLocal removes the message's matches from the local stores and
// returns the hex keys of the entries it removed.
func evictLocal(set *storeSet, m *message) map[string]struct{} {
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

// received evicts locally what another replica revoked.
func (r *Revoker) received(payload []byte) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil {
		r.opts.Logger.Warn("revocation: unreadable message ignored", slog.String("error", err.Error()))
		return
	}
	if m.Origin == r.origin {
		return // evicted when it was made
	}
	if len(m.Marks) > 0 {
		r.receivedMarks(m.Marks) // mark.go
		return
	}
	n := len(evictLocal(r.stores.Load(), &m))
	r.stats.Received.Add(1)
	attrs := []any{slog.Int("evicted", n)}
	if m.Sub != "" {
		attrs = append(attrs, slog.String("kind", "sub"), slog.String("tenant", m.Tenant), slog.String("sub", m.Sub))
	} else {
		attrs = append(attrs, slog.String("token_id", m.TokenID))
	}
	r.opts.Logger.Info("revocation received", attrs...)
}

// localOnly is the shared store of a replica without one: it holds
// nothing and reaches nobody.
type localOnly struct{}

func (localOnly) Revoke(context.Context, sharedstore.Target, time.Time, time.Duration, []string) (tried, deleted []string, err error) {
	return nil, nil, nil
}

func (localOnly) Publish(context.Context, []byte) error { return nil }

func (localOnly) Evict(context.Context, sharedstore.Subject) ([]string, error) { return nil, nil }

func (localOnly) AddMark(context.Context, []byte, time.Time, int) error { return nil }

func (localOnly) LiveMarks(context.Context, time.Time) ([][]byte, error) { return nil, nil }

func (localOnly) Subscribe(context.Context, func([]byte)) <-chan struct{} {
	done := make(chan struct{})
	close(done)
	return done
}
