// Package introspection is the RFC 7662 side of tokengate: a client that asks a
// tenant's authorization server about a token, the typed claims it answers with,
// and the layers that wrap the client, all of one shape (Middleware, assembled
// by Chain): the circuit breaker and the concurrency limit here, the caches in
// sub-packages.
package introspection

import (
	"context"
	"errors"
)

// Introspector answers what an authorization server says about a token.
//
// Implementations are safe for concurrent use. The token is owned by the caller
// and is never logged or kept beyond what the implementation documents (a cache
// keeps only a hash of it). A nil error always comes with non-nil Claims; an
// inactive token is not an error (Claims.Active is false). Every failure to get
// a trustworthy answer (network, status, body, types) is an error wrapping
// ErrIntrospection, so callers can fail closed on it.
type Introspector interface {
	Introspect(ctx context.Context, token string) (Result, error)
}

// Result is one answer of an Introspector.
type Result struct {
	// Claims is never nil when the error is nil. It is shared and must not be
	// modified: a cache hands the same value to many checks.
	Claims *Claims
	// Cache says where the answer came from; the plain client reports CacheNone.
	Cache CacheStatus
}

// CacheStatus is the stable word used for the tokengate.cache span attribute
// and the cache metrics.
type CacheStatus string

const (
	CacheNone        CacheStatus = "none"
	CacheHit         CacheStatus = "hit"
	CacheNegativeHit CacheStatus = "negative_hit"
	CacheMiss        CacheStatus = "miss"
	CacheCoalesced   CacheStatus = "coalesced"
)

// ErrIntrospection marks every error that means "no trustworthy answer".
var ErrIntrospection = errors.New("introspection failed")
