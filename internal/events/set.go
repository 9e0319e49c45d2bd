package events

import (
	"sort"
	"strings"
	"time"
)

// The event types handled (their effect: a marker of the subject, or of
// the session of a complex subject).
const (
	caepPrefix = "https://schemas.openid.net/secevent/caep/event-type/"
	riscPrefix = "https://schemas.openid.net/secevent/risc/event-type/"
)

// handled maps an event type URI to its type word.
var handled = map[string]string{
	caepPrefix + "session-revoked":   "session_revoked",
	caepPrefix + "credential-change": "credential_change",
	riscPrefix + "account-disabled":  "account_disabled",
	riscPrefix + "account-purged":    "account_purged",
	riscPrefix + "sessions-revoked":  "sessions_revoked",
}

// checkSET validates a verified Security Event Token's claims (RFC 8417,
// pushed per RFC 8935): iss the transmitter's, aud containing the
// audience, a jti, an iat, and an events object of event objects. It
// returns one decoded event per member of events (sorted by type URI);
// unknown types are accepted and revoke nothing.
func checkSET(t *Tenant, p payload) ([]decoded, *Problem) {
	if prob := p.issuedFor(t.SSFIssuer, "the configured transmitter", t.SSFAudience, "the configured audience"); prob != nil {
		return nil, prob
	}
	jti, _, prob := p.str("jti")
	if prob != nil {
		return nil, prob
	}
	if jti == "" {
		return nil, invalid("invalid_request", "jti is missing")
	}
	iat, ok, prob := p.date("iat")
	if prob != nil {
		return nil, prob
	}
	if !ok {
		return nil, invalid("invalid_request", "iat is missing")
	}
	toe, hasTOE, prob := p.date("toe")
	if prob != nil {
		return nil, prob
	}
	if !hasTOE {
		toe = iat
	}
	events, ok, prob := p.object("events")
	if prob != nil {
		return nil, prob
	}
	if !ok || len(events) == 0 {
		return nil, invalid("invalid_request", "events is missing or empty")
	}
	topSubject, hasTop, prob := p.object("sub_id")
	if prob != nil {
		return nil, prob
	}
	types := make([]string, 0, len(events))
	for typ := range events {
		types = append(types, typ)
	}
	sort.Strings(types)
	out := make([]decoded, 0, len(types))
	for _, uri := range types {
		d, prob := checkSETEvent(t, events, uri, topSubject, hasTop, toe)
		if prob != nil {
			return nil, prob
		}
		d.jti = jti
		out = append(out, d)
	}
	return out, nil
}

// checkSETEvent reads the event of type uri: its subject (its own
// subject member, else the SET's sub_id) and time (its event_timestamp,
// else the SET's toe, else its iat: fallback).
func checkSETEvent(t *Tenant, events payload, uri string, top payload, hasTop bool, fallback time.Time) (decoded, *Problem) {
	ev, _, prob := events.object(uri)
	if prob != nil {
		return decoded{}, invalid("invalid_request", "an event is not a JSON object")
	}
	word, known := handled[uri]
	if !known {
		return decoded{typ: "other", ignored: true}, nil
	}
	d := decoded{typ: word}
	at, ok, prob := ev.date("event_timestamp")
	if prob != nil {
		return d, prob
	}
	if !ok {
		at = fallback
	}
	d.at = at
	subject, ok, prob := ev.object("subject")
	if prob != nil {
		return d, prob
	}
	if !ok {
		subject, ok = top, hasTop
	}
	if !ok {
		return d, invalid("invalid_request", "the "+strings.ReplaceAll(word, "_", "-")+" event has no subject")
	}
	if d.target, prob = subjectTarget(t, subject); prob != nil {
		return d, prob
	}
	d.ignored = d.target.value == ""
	return d, nil
}
