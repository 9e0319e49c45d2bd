package config

import (
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// DefaultRevocationTTL is events.revocation_ttl when absent.
const DefaultRevocationTTL = 24 * time.Hour

// Events is a tenant's events section: revocations pushed by the
// authorization server (OpenID Connect Back-Channel Logout 1.0, and Shared
// Signals: RFC 8417 SETs pushed per RFC 8935). The zero value is off.
type Events struct {
	// BackchannelClientID turns POST /events/<tenant>/backchannel-logout
	// on: a logout token's aud must contain it. The tenant then has an
	// issuer (the logout token's iss must equal it).
	BackchannelClientID string
	// SSFIssuer turns POST /events/<tenant>/ssf on: a SET's iss must
	// equal it; SSFAudience is then set, and a SET's aud must contain it.
	SSFIssuer, SSFAudience string
	// JWKSURL holds the keys of both; "": the jwks_uri of the metadata of
	// KeysIssuer.
	JWKSURL string
	// RevocationTTL is how long a subject or session marker lasts
	// (default DefaultRevocationTTL, > 0).
	RevocationTTL time.Duration
}

// On reports whether any event endpoint of the tenant is on.
func (e *Events) On() bool { return e.BackchannelClientID != "" || e.SSFIssuer != "" }

// KeysIssuer is the issuer whose metadata names the events' key set when
// jwks_url is empty: the tenant's issuer, else the SSF transmitter's.
func (t *Tenant) KeysIssuer() string {
	if t.Issuer != "" {
		return t.Issuer
	}
	return t.Events.SSFIssuer
}

// events decodes parent.events.
func (d *decoder) events(parent *object) Events {
	o := d.object(parent.values["events"], join(parent.path, "events"), "backchannel_logout", "ssf", "jwks_url", "revocation_ttl")
	e := Events{RevocationTTL: d.durationDefault(o, "revocation_ttl", DefaultRevocationTTL, true)}
	bcl := d.object(o.values["backchannel_logout"], join(o.path, "backchannel_logout"), "client_id")
	if v, st := d.str(bcl, "client_id"); st == set {
		e.BackchannelClientID = v
	}
	ssf := d.object(o.values["ssf"], join(o.path, "ssf"), "issuer", "audience")
	if v, st := d.str(ssf, "issuer"); st == set {
		e.SSFIssuer = v
	}
	if v, st := d.str(ssf, "audience"); st == set {
		e.SSFAudience = v
	}
	if v, st := d.str(o, "jwks_url"); st == set && v != "" {
		d.checkURL(join(o.path, "jwks_url"), v)
		e.JWKSURL = v
	}
	return e
}

// eventsTenant checks what the events section requires of tenant t at
// path: an issuer for back-channel logout (a logout token's iss must equal
// it), an audience with an SSF issuer (a SET's aud must contain it), and,
// without jwks_url, an issuer whose metadata can name the key set.
func (d *decoder) eventsTenant(path string, t *Tenant) {
	e := &t.Events
	p := join(path, "events")
	if e.BackchannelClientID != "" && t.Issuer == "" {
		d.errorf(join(path, "issuer"), "required with events.backchannel_logout.client_id: a logout token's iss must equal it")
	}
	if e.SSFIssuer != "" && e.SSFAudience == "" {
		d.errorf(join(join(p, "ssf"), "audience"), "required with events.ssf.issuer: a SET's aud must contain it")
	}
	if e.SSFIssuer == "" && e.SSFAudience != "" {
		d.errorf(join(join(p, "ssf"), "issuer"), "required with events.ssf.audience (the SSF endpoint is off without it)")
	}
	if e.JWKSURL == "" && e.On() && introspection.MetadataURLs(t.KeysIssuer()) == nil {
		d.errorf(join(p, "jwks_url"), "required when the issuer is not an http(s) URL without query or fragment (the key set is discovered from the issuer's metadata)")
	}
	if e.JWKSURL != "" && !e.On() {
		d.errorf(join(p, "jwks_url"), "set, but no event endpoint is on (events.backchannel_logout.client_id or events.ssf.issuer)")
	}
}
