package events

import (
	"time"

	"github.com/tokengate/tokengate/introspection/revocation"
)

// BackchannelLogoutEvent is the events member of a logout token (OpenID
// Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutIATWindow is how far a logout token's iat may be from now, either
// side.
const LogoutIATWindow = 5 * time.Minute

// decoded is one validated event: what it revokes, at what time, its jti
// and its type word for logs and metrics.
type decoded struct {
	jti     string
	typ     string
	target  target
	at      time.Time
	ignored bool // accepted, revokes nothing
}

// checkLogout validates a verified logout token's claims, OpenID Connect
// Back-Channel Logout 1.0 §2.6 steps 3 to 6 (the signature was step 2,
// the jti replay check comes after): iss, aud, iat within LogoutIATWindow,
// exp not passed, the events member, sub or sid, no nonce, a jti. With sid
// it revokes that session only, else the subject; at is the token's iat.
func checkLogout(t *Tenant, p payload, now time.Time) (decoded, *Problem) {
	d := decoded{typ: "backchannel_logout"}
	if prob := p.issuedFor(t.Issuer, "the tenant's issuer", t.ClientID, "the client_id"); prob != nil {
		return d, prob
	}
	iat, ok, prob := p.date("iat")
	switch {
	case prob != nil:
		return d, prob
	case !ok:
		return d, invalid("invalid_request", "iat is missing")
	case iat.Before(now.Add(-LogoutIATWindow)) || iat.After(now.Add(LogoutIATWindow)):
		return d, invalid("invalid_request", "iat is not within 5 minutes of now")
	}
	exp, ok, prob := p.date("exp")
	if prob != nil {
		return d, prob
	}
	if ok && !now.Before(exp) {
		return d, invalid("invalid_request", "the logout token has expired")
	}
	events, ok, prob := p.object("events")
	if prob != nil {
		return d, prob
	}
	if _, member, _ := events.object(BackchannelLogoutEvent); !ok || !member {
		return d, invalid("invalid_request", "events has no back-channel logout member")
	}
	if p.has("nonce") {
		return d, invalid("invalid_request", "a logout token must not contain a nonce")
	}
	sub, _, p1 := p.str("sub")
	sid, _, p2 := p.str("sid")
	jti, _, p3 := p.str("jti")
	if prob := first(p1, p2, p3); prob != nil {
		return d, prob
	}
	switch {
	case sub == "" && sid == "":
		return d, invalid("invalid_request", "the logout token has neither sub nor sid")
	case jti == "":
		return d, invalid("invalid_request", "jti is missing")
	case sid != "":
		d.target = target{revocation.MarkSession, sid}
	default:
		d.target = target{revocation.MarkSubject, sub}
	}
	d.jti, d.at = jti, iat
	return d, nil
}
