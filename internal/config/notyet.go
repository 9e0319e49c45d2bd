package config

import (
	"strings"
	"time"
)

// Keys of the contract whose features this version does not build yet:
// tenants[].jwt (RFC 9068 JWT access tokens), tenants[].events (revocation
// events) and the routes' acr_values, max_age, when and enforce (route
// policy). They are accepted with their contract types, so that the
// contract's example validates, but only with the values that mean "off":
// any other value is an error, never silently ignored (fail closed). What
// they decode to is checked and dropped; Config has no field for them yet.

// Defaults of the not-yet-built keys, as the contract gives them.
const (
	jwtModeOff                = "off"
	jwtModeLocal              = "local"
	jwtModeLocalIntrospect    = "local_then_introspect"
	defaultRevocationTTL      = 24 * time.Hour
	notSupportedByThisVersion = "not supported by this version of tokengate; see CHANGELOG"
)

// jwtNotYet decodes parent.jwt: mode must be off (the default); jwks_url,
// algorithms (default [RS256, PS256, ES256, EdDSA]) and typ (default
// [at+jwt, application/at+jwt]) are checked and otherwise unused.
func (d *decoder) jwtNotYet(parent *object) {
	o := d.object(parent.values["jwt"], join(parent.path, "jwt"), "mode", "jwks_url", "algorithms", "typ")
	if v, st := d.str(o, "mode"); st == set {
		p := join(o.path, "mode")
		switch v {
		case jwtModeOff:
		case jwtModeLocal, jwtModeLocalIntrospect:
			d.errorf(p, "%s is not supported by this version of tokengate (only %q); see CHANGELOG", d.q(p, v), jwtModeOff)
		default:
			d.enum(p, v, jwtModeOff, jwtModeLocal, jwtModeLocalIntrospect)
		}
	}
	d.optionalURL(o, "jwks_url")
	d.signingAlgorithms(o, "algorithms", []string{"RS256", "PS256", "ES256", "EdDSA"})
	if typs, st := d.strList(o, "typ"); st == set && len(typs) > 0 { // []: any typ
		lower := make([]string, len(typs))
		for i, t := range typs {
			lower[i] = strings.ToLower(t) // JOSE typ is compared case-insensitively (RFC 7515 §4.1.9)
		}
		d.uniqueStrings(join(o.path, "typ"), lower, "typ", nil)
	}
}

// eventsNotYet decodes parent.events: backchannel_logout.client_id and
// ssf.issuer (which turn the endpoints on) must be empty; ssf.audience,
// jwks_url and revocation_ttl (default 24h, > 0) are checked and otherwise
// unused.
func (d *decoder) eventsNotYet(parent *object) {
	o := d.object(parent.values["events"], join(parent.path, "events"), "backchannel_logout", "ssf", "jwks_url", "revocation_ttl")
	bcl := d.object(o.values["backchannel_logout"], join(o.path, "backchannel_logout"), "client_id")
	if v, st := d.str(bcl, "client_id"); st == set && v != "" {
		d.errorf(join(bcl.path, "client_id"), "must be empty: back-channel logout is %s", notSupportedByThisVersion)
	}
	ssf := d.object(o.values["ssf"], join(o.path, "ssf"), "issuer", "audience")
	if v, st := d.str(ssf, "issuer"); st == set && v != "" {
		d.errorf(join(ssf.path, "issuer"), "must be empty: Shared Signals (SSF) events are %s", notSupportedByThisVersion)
	}
	d.str(ssf, "audience")
	d.optionalURL(o, "jwks_url")
	d.durationDefault(o, "revocation_ttl", defaultRevocationTTL, true)
}

// routePolicyNotYet decodes a route's acr_values and when (must be empty),
// max_age (must be 0s) and enforce (must be true, the default).
func (d *decoder) routePolicyNotYet(o *object) {
	if list, st := d.strList(o, "acr_values"); st == set && len(list) > 0 {
		d.errorf(join(o.path, "acr_values"), "must be empty: acr_values (RFC 9470) is %s", notSupportedByThisVersion)
	}
	if v, st := d.duration(o, "max_age"); st == set && v != 0 {
		d.errorf(join(o.path, "max_age"), "must be 0s: max_age (RFC 9470) is %s", notSupportedByThisVersion)
	}
	if list, st := d.strList(o, "when"); st == set && len(list) > 0 {
		d.errorf(join(o.path, "when"), "must be empty: CEL policies are %s", notSupportedByThisVersion)
	}
	if v, st := d.boolean(o, "enforce"); st == set && !v {
		d.errorf(join(o.path, "enforce"), "must be true: shadow mode is %s", notSupportedByThisVersion)
	}
}

// optionalURL checks o's key, a URL when not empty.
func (d *decoder) optionalURL(o *object, key string) {
	if v, st := d.str(o, key); st == set && v != "" {
		d.checkURL(join(o.path, key), v)
	}
}
