package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// Markers is the replica's marker set: checks ask it (Revoked) after
// active, before exp/nbf.
func (r *Revoker) Markers() *Markers { return r.marks }

// Revoked reports whether a revocation marker of tenant covers c (see
// Markers.Revoked).
func (r *Revoker) Revoked(tenant string, c *introspection.Claims) bool {
	return r.marks.Revoked(tenant, c)
}

// Mark records the markers of one pushed revocation event on this
// replica, evicts the entries they name from its local caches and the
// shared one (a subject's by the subject index; a session's or an e-mail
// address's tokens without iat by theirs: tokens without iat are then
// introspected again), keeps them in the shared
// store and publishes them to the other replicas, which do the same. It
// returns how many entries it evicted. A marker that does not fit
// (ErrMarkersFull) or is malformed (ErrInvalid) is an error before
// anything was evicted or published; a shared-store failure, after the
// local effect, one wrapping ErrUnavailable.
func (r *Revoker) Mark(ctx context.Context, marks ...Mark) (int, error) {
	for i := range marks {
		if err := marks[i].Validate(); err != nil {
			return 0, err
		}
	}
	n, err := r.applyMarks(marks)
	if err != nil {
		return 0, err
	}
	r.stats.Revocations.Add(1) // tokengate_revocations_total{source="local"}
	body, err := json.Marshal(&message{Origin: r.origin, Marks: marks})
	if err != nil {
		return n, fmt.Errorf("revocation message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	// The subject's shared entries go, and the session's or address's
	// without iat (no marker: the checks judge the event's, and a token
	// without iat is introspected again); the
	// markers are kept in the shared store, for replicas that start later
	// (Restore), and published to those running. Each step is tried even
	// when one before failed.
	var errs []error
	for _, mk := range marks {
		deleted, err := r.opts.Store.Evict(ctx, mk.subject())
		errs = append(errs, err)
		n += len(deleted)
		raw, err := json.Marshal(&mk)
		if err == nil {
			err = r.opts.Store.AddMark(ctx, raw, time.UnixMilli(mk.Until), r.marks.max)
		}
		errs = append(errs, err)
	}
	errs = append(errs, r.opts.Store.Publish(ctx, body))
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return n, nil
}

// Restore records the live markers the shared store keeps (events
// received before this replica started) and returns how many. Without a
// shared store it does nothing. A replica calls it once at start; a
// failure leaves it with the markers it receives from then on.
func (r *Revoker) Restore(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	raws, err := r.opts.Store.LiveMarks(ctx, r.opts.Now())
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	n := 0
	for _, raw := range raws {
		var mk Mark
		if json.Unmarshal(raw, &mk) != nil || mk.Validate() != nil {
			continue // not this version's
		}
		if err := r.marks.Add(mk); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// applyMarks records marks and evicts locally.
func (r *Revoker) applyMarks(marks []Mark) (int, error) {
	for _, mk := range marks {
		if err := r.marks.Add(mk); err != nil {
			return 0, err
		}
	}
	set := r.stores.Load()
	evicted := 0
	for _, mk := range marks {
		st, ok := set.byTenant[mk.Tenant]
		if !ok {
			continue
		}
		var keys []string
		switch mk.Kind {
		case MarkSubject:
			keys = st.KeysBySubject(mk.Value)
		default: // a session's or an address's tokens without iat
			keys = st.KeysUndated(string(mk.Kind), mk.Value)
		}
		// With no key, Delete still stops lookups in flight from storing
		// an answer that predates the event.
		evicted += st.Delete(keys...)
	}
	return evicted, nil
}

// subject is the shared store's index set of the entries mk evicts.
func (mk *Mark) subject() sharedstore.Subject {
	if mk.Kind == MarkSubject {
		return sharedstore.Subject{Tenant: mk.Tenant, Sub: mk.Value}
	}
	return sharedstore.Subject{Tenant: mk.Tenant, Sub: mk.Value, UndatedClaim: string(mk.Kind)}
}

// receivedMarks applies the markers another replica published.
func (r *Revoker) receivedMarks(marks []Mark) {
	for i := range marks {
		if err := marks[i].Validate(); err != nil {
			r.opts.Logger.Warn("revocation: unreadable marker ignored", slog.String("error", err.Error()))
			return
		}
	}
	n, err := r.applyMarks(marks)
	if err != nil {
		r.opts.Logger.Error("revocation: received markers not recorded", slog.String("error", err.Error()))
		return
	}
	r.stats.Received.Add(1)
	for _, mk := range marks {
		r.opts.Logger.Info("revocation marker received", slog.String("tenant", mk.Tenant), slog.String("kind", string(mk.Kind)),
			slog.String("subject_hash", SubjectHash(mk.Value)), slog.Int("evicted", n))
	}
}

// SubjectHash is how logs name a subject, session or e-mail address of an
// event: 12 hex digits of its SHA-256, never the value itself.
func SubjectHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:6])
}
