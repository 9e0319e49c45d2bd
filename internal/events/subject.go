package events

import (
	"github.com/tokengate/tokengate/introspection/revocation"
)

// target is what one event revokes: a claim (sub, sid or email) and its
// value. The zero value revokes nothing (a subject of another issuer or
// of a format tokens cannot be matched with).
type target struct {
	kind  revocation.MarkKind
	value string
}

// subjectTarget reads an RFC 9493 subject identifier (or an SSF complex
// subject) for tenant t: iss_sub (its sub, when its iss is the tenant's
// issuer), opaque (its id, a sub), email, and complex with user and/or
// session (the session alone when there is one: that user's session
// only). Other formats are valid but revoke nothing.
func subjectTarget(t *Tenant, s payload) (target, *Problem) {
	format, hasFormat, p := s.str("format")
	if p != nil {
		return target{}, p
	}
	if !hasFormat || format == "complex" {
		return complexTarget(t, s)
	}
	switch format {
	case "iss_sub":
		iss, _, p1 := s.str("iss")
		sub, _, p2 := s.str("sub")
		if p := first(p1, p2); p != nil {
			return target{}, p
		}
		if iss == "" || sub == "" {
			return target{}, invalid("invalid_request", "an iss_sub subject needs iss and sub")
		}
		if iss != t.subjectIssuer() {
			return target{}, nil // another issuer's subject
		}
		return target{revocation.MarkSubject, sub}, nil
	case "opaque":
		return stringMember(s, "id", revocation.MarkSubject, "an opaque subject needs an id")
	case "email":
		return stringMember(s, "email", revocation.MarkEmail, "an email subject needs an email")
	}
	return target{}, nil
}

// complexTarget reads a complex subject: its session when present, else
// its user.
func complexTarget(t *Tenant, s payload) (target, *Problem) {
	session, hasSession, p1 := s.object("session")
	user, hasUser, p2 := s.object("user")
	if p := first(p1, p2); p != nil {
		return target{}, p
	}
	switch {
	case hasSession:
		// A session is named by an opaque id: the tokens' sid claim.
		if f, _, _ := session.str("format"); f != "opaque" {
			return target{}, nil
		}
		return stringMember(session, "id", revocation.MarkSession, "an opaque session subject needs an id")
	case hasUser:
		return subjectTarget(t, user)
	}
	return target{}, invalid("invalid_request", "the subject has no format and is not a complex subject with user or session")
}

func stringMember(s payload, name string, kind revocation.MarkKind, missing string) (target, *Problem) {
	v, _, p := s.str(name)
	if p != nil {
		return target{}, p
	}
	if v == "" {
		return target{}, invalid("invalid_request", missing)
	}
	return target{kind, v}, nil
}

func first(ps ...*Problem) *Problem {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}
