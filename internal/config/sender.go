package config

import (
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/httpsyntax"
)

// Values of SenderConstraint.Required.
const (
	RequireNone = "none" // bound tokens are checked, unbound ones pass
	RequireDPoP = "dpop" // every token must be DPoP-bound (cnf.jkt)
	RequireMTLS = "mtls" // every token must be certificate-bound (cnf["x5t#S256"])
	RequireAny  = "any"  // every token must be bound one way or the other
)

// DefaultDPoPMaxAge is sender_constraint.dpop_max_age when absent.
const DefaultDPoPMaxAge = dpop.DefaultMaxAge

// SenderConstraint is a tenant's sender_constraint section: how DPoP-bound
// (RFC 9449) and certificate-bound (RFC 8705) tokens are checked. Whatever
// Required says, a token whose claims carry cnf.jkt or cnf["x5t#S256"] is
// always held to its binding. Like the rest of a Config it is read-only
// once loaded.
type SenderConstraint struct {
	Required string // RequireNone (default), RequireDPoP, RequireMTLS or RequireAny
	// DPoPAlgorithms are the JWS algorithms a proof may use, in file order
	// (the algs of DPoP challenges); default dpop.DefaultAlgorithms.
	// Asymmetric only: never none or HS*.
	DPoPAlgorithms []string
	DPoPMaxAge     time.Duration // default DefaultDPoPMaxAge, > 0
	// Origin is the external "scheme://host[:port]" that a proof's htu must
	// name; "": the checked request's scheme and host.
	Origin string
	// CertificateHeader is the lowercased name of the header that carries
	// the URL-encoded client certificate PEM in HTTP mode (set by a trusted
	// proxy, e.g. nginx's $ssl_client_escaped_cert); "": none.
	CertificateHeader string
}

// DefaultSenderConstraint returns the section used when it is absent.
func DefaultSenderConstraint() SenderConstraint {
	return SenderConstraint{Required: RequireNone, DPoPAlgorithms: slices.Clone(dpop.DefaultAlgorithms), DPoPMaxAge: DefaultDPoPMaxAge}
}

// reservedCertificateHeaders cannot carry the client certificate: they are
// the credentials, or name the checked request.
var reservedCertificateHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "dpop": true, "cookie": true, "host": true,
	"x-forwarded-method": true, "x-forwarded-host": true, "x-forwarded-uri": true, "x-forwarded-proto": true,
	"x-original-method": true, "x-original-uri": true,
}

// senderConstraint decodes parent.sender_constraint. Every problem is
// reported (they join with the rest of the file's).
func (d *decoder) senderConstraint(parent *object) SenderConstraint {
	o := d.object(parent.values["sender_constraint"], join(parent.path, "sender_constraint"),
		"required", "dpop_algorithms", "dpop_max_age", "origin", "certificate_header")
	sc := DefaultSenderConstraint()
	if v, st := d.str(o, "required"); st == set && d.enum(join(o.path, "required"), v, RequireNone, RequireDPoP, RequireMTLS, RequireAny) {
		sc.Required = v
	}
	if algs, ok := d.signingAlgorithms(o, "dpop_algorithms", dpop.DefaultAlgorithms); ok {
		sc.DPoPAlgorithms = algs
	}
	sc.DPoPMaxAge = d.durationDefault(o, "dpop_max_age", DefaultDPoPMaxAge, true)
	if v, st := d.str(o, "origin"); st == set && v != "" {
		if !dpop.ValidOrigin(v) {
			d.errorf(join(o.path, "origin"), "%s is not scheme://host[:port] with scheme http or https (no path, query or user information)", d.q(join(o.path, "origin"), v))
		}
		sc.Origin = v
	}
	if v, st := d.str(o, "certificate_header"); st == set && v != "" {
		p, h := join(o.path, "certificate_header"), httpsyntax.ToLower(v)
		if !httpsyntax.IsToken(h) { // pseudo-headers (":authority") included
			d.errorf(p, "%s is not a header name a proxy can set", d.q(p, v))
		} else if reservedCertificateHeaders[h] {
			d.errorf(p, "header %s cannot carry the client certificate: it holds credentials or names the checked request", d.q(p, h))
		}
		sc.CertificateHeader = h
	}
	return sc
}

// signingAlgorithms decodes o.key, a list of asymmetric JWS algorithms
// (a DPoP proof's or a JWT's: never none or HS*); ok is false when absent.
func (d *decoder) signingAlgorithms(o *object, key string, defaults []string) (algs []string, ok bool) {
	algs, st := d.strList(o, key)
	if st != set {
		return nil, false
	}
	p := join(o.path, key)
	if len(algs) == 0 {
		d.errorf(p, "must not be empty (leave it out for the default [%s])", strings.Join(defaults, ", "))
	}
	supported := dpop.SupportedAlgorithms()
	for i, a := range algs {
		if a != "" && !slices.Contains(supported, a) {
			d.errorf(index(p, i), "%s is not an asymmetric JWS algorithm tokengate verifies (one of %s; never none or HS*)",
				d.q(index(p, i), a), strings.Join(supported, ", "))
		}
	}
	d.uniqueStrings(p, algs, "algorithm", nil)
	return algs, true
}
