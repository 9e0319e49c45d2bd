package dpop

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// ReplayCache remembers the jti of every accepted proof for a while, so that
// a proof is accepted at most once (RFC 9449 §11.1).
//
// Seen records jti for tenant for ttl and reports whether it was already
// recorded (and not yet expired): the first use is not a replay, any later
// use within ttl is. The check and the record are one atomic step, also
// across replicas when the cache is shared. An error means the cache could
// not answer; the caller must not accept the proof then.
//
// Implementations are safe for concurrent use. MemoryReplayCache keeps the
// entries of one process; a Redis implementation plugs in behind the same
// interface with one command per check, SET <prefix><tenant>:<jti> 1 NX PX
// <ttl in ms>, a nil reply meaning replayed, so that a proof replayed at
// another replica is refused too.
type ReplayCache interface {
	Seen(ctx context.Context, tenant, jti string, ttl time.Duration) (replayed bool, err error)
}

// ErrReplayCacheSkipped may be wrapped by the error of a ReplayCache shared
// by replicas that did not ask its store at all (set aside for a while
// after errors). The caller treats it like any error of that cache, but it
// is expected while the store is down, so it need not be reported each
// time.
var ErrReplayCacheSkipped = errors.New("DPoP replay cache skipped while its store is failing")

// CheckBinding compares the proof's key thumbprint with the token's cnf.jkt
// in constant time. It returns ErrKeyMismatch (reason invalid_token) when
// they differ, including when jkt is empty.
func CheckBinding(p Proof, jkt string) error {
	if jkt == "" || subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(jkt)) != 1 {
		return ErrKeyMismatch
	}
	return nil
}

// CheckReplay records the proof's jti for tenant for the replay window
// (ReplayWindow). It returns a *ProofError wrapping ErrReplayed when the jti
// was seen before, and the cache's error, wrapped, when the cache could not
// answer (not a *ProofError: the caller decides, typically 503). Call it
// after CheckBinding, so that a proof for another key does not use up a jti.
func (v *Verifier) CheckReplay(ctx context.Context, cache ReplayCache, tenant string, p Proof) error {
	replayed, err := cache.Seen(ctx, tenant, p.JTI, v.ReplayWindow())
	switch {
	case err != nil:
		return fmt.Errorf("dpop: replay cache: %w", err)
	case replayed:
		return invalid("DPoP proof has been used before (jti)", ErrReplayed)
	}
	return nil
}
