// Package sharedstore is the contract between the state all replicas share
// (Redis: see redisstore) and the packages that use it: sharedcache, which
// reads and writes introspection answers with their revocation markers and
// records the jti of DPoP proofs, and revocation, which writes markers,
// drops index sets and fans revocations out to the other replicas. It holds only the interfaces and
// the plain values they pass, so that both users are tested against an
// in-memory fake (sharedstoretest) as well as against a real Redis.
//
// The operations are few and coarse on purpose: each is one round trip to
// Redis (a pipeline), so the caller bounds it with one context deadline and
// counts it once as a success or a failure.
//
// Concurrency: implementations must be safe for concurrent use. Ownership:
// whoever makes a Store (the app) closes it, after its users are done
// (revocation.Revoker.Close first, which stops the subscription).
package sharedstore

import (
	"context"
	"time"
)

// DefaultTimeout bounds each call to the store when the caller sets no
// timeout: a slow store is a miss, not something to wait for.
const DefaultTimeout = 50 * time.Millisecond

// Subject is one tenant's subject: markers and index sets of a sub are per
// tenant. With UndatedClaim ("sid" or "email") it names instead the index
// set of the answers without iat whose claim of that name is Sub: a
// session or an e-mail address an event revokes (no marker is kept for
// those).
type Subject struct {
	Tenant, Sub  string
	UndatedClaim string
}

// IsZero reports whether s names no subject.
func (s Subject) IsZero() bool { return s.Sub == "" }

// Markers are the revocation markers found for a token.
type Markers struct {
	// TokenID: the token's token_id is revoked.
	TokenID bool
	// Subject: the token's subject is revoked, for the tokens issued up to
	// SubjectAt (and those without iat). A marker whose time cannot be read
	// has SubjectAt in the far future: it covers every token (fail closed).
	Subject   bool
	SubjectAt time.Time
}

// Entry is an answer to store, with the index sets that let a revocation
// find it.
type Entry struct {
	Key   string        // hex cache key (of cache.Key)
	Value []byte        // as sharedcache sealed it
	TTL   time.Duration // > 0
	// TokenID, when set, lists Key in the token_id's index set, and a
	// non-zero Subject in the subject's, each kept for IndexTTL (active
	// answers only: an inactive one admits nobody).
	TokenID string
	Subject Subject
	// Undated lists Key, for an active answer without iat, in the index
	// sets of its sid and email (Subjects with UndatedClaim), also kept
	// for IndexTTL.
	Undated  []Subject
	IndexTTL time.Duration
}

// Target is what a revocation marks: exactly one of a token_id or a
// subject.
type Target struct {
	TokenID string
	Subject Subject
}

// Entries is the shared cache's side of the store.
type Entries interface {
	// EntryName is the full name the entry under key is stored as; signed
	// entries bind it, so that an entry moved to another key (another
	// token's, tenant's or deployment's) fails.
	EntryName(key string) string
	// Get reads the entry under key and whether tokenID has a marker, in
	// one round trip. No entry is a nil value, not an error.
	Get(ctx context.Context, key, tokenID string) (value []byte, revoked bool, err error)
	// Markers reads the marker of tokenID (unless "") and of subject
	// (unless zero), in one round trip.
	Markers(ctx context.Context, tokenID string, subject Subject) (Markers, error)
	// Put stores e, and its index sets, in one round trip.
	Put(ctx context.Context, e Entry) error
}

// Revocations is revocation's side of the store.
type Revocations interface {
	// Revoke marks t revoked at the time at, for ttl; then deletes the
	// entries under keys and under t's index set, and the index set. It
	// returns every key it tried (keys and the set's members) and those
	// whose entries it deleted.
	Revoke(ctx context.Context, t Target, at time.Time, ttl time.Duration, keys []string) (tried, deleted []string, err error)
	// Publish sends msg to every subscriber, this process's included.
	Publish(ctx context.Context, msg []byte) error
	// Evict deletes the entries in sub's index set, and the set, leaving
	// no marker (an event's marker is judged by the checks, and a token
	// without iat must be asked about again). It returns the keys deleted.
	Evict(ctx context.Context, sub Subject) (deleted []string, err error)
	// AddMark keeps mark (an event's revocation marker, opaque here)
	// until the time until, in one set of all markers, dropping those
	// expired by then and, beyond max, those expiring first.
	AddMark(ctx context.Context, mark []byte, until time.Time, max int) error
	// LiveMarks returns the markers kept that expire after now: what a
	// replica that starts learns of the events before it.
	LiveMarks(ctx context.Context, now time.Time) ([][]byte, error)
	// Subscribe calls handle with every message published from about now
	// until ctx ends (none is replayed: one published while the connection
	// is down is lost), from a goroutine of its own; handle must be safe
	// for concurrent use. done is closed once handle is no longer called.
	Subscribe(ctx context.Context, handle func(msg []byte)) (done <-chan struct{})
}

// Replays is DPoP's side of the store: the jti of every accepted proof,
// seen by every replica (RFC 9449 §11.1).
type Replays interface {
	// SeenJTI records jti for tenant for ttl (> 0) unless it is recorded
	// already, in one atomic step (Redis: SET NX with the TTL), and reports
	// whether it was: a proof replayed at any replica is refused.
	SeenJTI(ctx context.Context, tenant, jti string, ttl time.Duration) (replayed bool, err error)
}

// Store is the whole store, as redisstore implements it.
type Store interface {
	Entries
	Revocations
	Replays
	// Close releases the connections. Calls after it fail.
	Close() error
}
