package decision

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// Reasons of the route policy (the contract's "Route policy").
const (
	// InsufficientUserAuthentication: the token's acr is not one of the
	// route's acr_values, or its auth_time is absent or older than the
	// route's max_age (RFC 9470 step-up).
	InsufficientUserAuthentication Reason = "insufficient_user_authentication"
	// PolicyDenied: a `when` condition of the route was false, or could
	// not be evaluated.
	PolicyDenied Reason = "policy"
	// Shadow: a route in shadow mode (enforce: false) would have denied;
	// the request was allowed.
	Shadow Reason = "shadow"
)

// StepUp is a route's RFC 9470 requirement on how, and how recently, the
// user authenticated. The zero value requires nothing.
type StepUp struct {
	// ACRValues: the token's acr must be one of these (none: not checked).
	ACRValues []string
	// MaxAge: auth_time at most this old, plus the leeway (0: not
	// checked). Whole seconds.
	MaxAge time.Duration
}

// required reports whether s checks anything.
func (s *StepUp) required() bool { return len(s.ACRValues) > 0 || s.MaxAge > 0 }

// checkStepUp applies the route's step-up requirement: acr, then
// auth_time. A claim of the wrong JSON type counts as absent.
func checkStepUp(p *Policy, c *introspection.Claims, now time.Time) (Decision, bool) {
	s := &p.StepUp
	if !s.required() {
		return Decision{}, false
	}
	if len(s.ACRValues) > 0 {
		acr, ok := c.StringClaim("acr")
		if !ok || !contains(s.ACRValues, acr) {
			return insufficientUserAuthentication(p, "a stronger authentication is required"), true
		}
	}
	if s.MaxAge > 0 {
		at, ok := timeClaim(c, "auth_time")
		if !ok || now.After(at.Add(s.MaxAge+p.Leeway)) {
			return insufficientUserAuthentication(p, "a more recent authentication is required"), true
		}
	}
	return Decision{}, false
}

// insufficientUserAuthentication is the RFC 9470 §3 challenge: the route's
// acr_values and max_age tell the client what to ask the authorization
// server for.
func insufficientUserAuthentication(p *Policy, desc string) Decision {
	d := Decision{Reason: InsufficientUserAuthentication, Status: http.StatusUnauthorized, Realm: p.Realm,
		Error: "insufficient_user_authentication", Description: desc,
		ACRValues: strings.Join(p.StepUp.ACRValues, " ")}
	if p.StepUp.MaxAge > 0 {
		d.MaxAge = strconv.FormatInt(int64(p.StepUp.MaxAge/time.Second), 10)
	}
	return d
}

// DenyPolicy is the answer when a `when` condition is false or fails:
// 403 without a challenge (nothing the client can present would help).
func DenyPolicy() Decision {
	return Decision{Reason: PolicyDenied, Status: http.StatusForbidden,
		Error: "access_denied", Description: "the request does not meet the route's conditions"}
}

// AllowShadow is the answer for a would-be deny on a route in shadow mode.
func AllowShadow() Decision { return Decision{Allow: true, Reason: Shadow} }

// Shadowable reports whether a route in shadow mode answers d as an
// allow: every deny but malformed_request (a request no upstream reads
// the same way is never let through).
func Shadowable(d Decision) bool { return !d.Allow && d.Reason != MalformedRequest }

// timeClaim is claim name when it is a JSON number (NumericDate, seconds
// since the epoch, fractions allowed).
func timeClaim(c *introspection.Claims, name string) (time.Time, bool) {
	raw, ok := c.Claim(name)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !(f >= 0 && f <= 1e11) { // not a number, or beyond year 5000
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
