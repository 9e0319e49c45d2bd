package decision

import (
	"crypto/subtle"
	"strings"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/introspection"
)

// Constraint is a tenant's sender_constraint.required: which tokens must
// be sender-constrained. Bound tokens are held to their binding whatever
// it says.
type Constraint string

const (
	RequireNone Constraint = "none" // the zero value "" means the same
	RequireDPoP Constraint = "dpop" // DPoP-bound tokens only (cnf.jkt)
	RequireMTLS Constraint = "mtls" // certificate-bound tokens only (cnf["x5t#S256"])
	RequireAny  Constraint = "any"  // bound one way or the other
)

// satisfiedBy reports whether a binding that was verified meets the
// constraint.
func (r Constraint) satisfiedBy(cnf introspection.Cnf) bool {
	switch r {
	case RequireDPoP:
		return cnf.JKT != ""
	case RequireMTLS:
		return cnf.X5T != ""
	case RequireAny:
		return cnf.JKT != "" || cnf.X5T != ""
	}
	return true
}

// Binding is what the request presented to prove possession of a
// sender-constrained token, as plain values the caller worked out (the
// caller verified the proof's form and signature, and read the client
// certificate); Decide compares them with the token's cnf.
type Binding struct {
	// Scheme is the Authorization scheme the token came with.
	Scheme bearer.Scheme
	// ProofThumbprint is the RFC 7638 thumbprint of the jwk of the
	// request's DPoP proof, which passed dpop.Verifier.Verify; "": no
	// proof was verified.
	ProofThumbprint string
	// Replayed says the proof's jti was used before (see
	// Decision.ReplayCheck).
	Replayed bool
	// CertThumbprint is the base64url SHA-256 of the DER of the client
	// certificate; "" when none came or it could not be read.
	CertThumbprint string
	// CertProblem is the error_description when CertThumbprint is "" ("":
	// no client certificate came).
	CertProblem string
	// Revoked is the verdict of the revocation markers the caller looked
	// up (a pushed event revoked the token's subject or session at or after
	// its iat): decided right after active, before exp/nbf.
	Revoked bool
}

// defaultDPoPAlgs is the algs of DPoP challenges of a Policy without
// DPoPAlgs: the default dpop_algorithms.
var defaultDPoPAlgs = strings.Join(dpop.DefaultAlgorithms, " ")

func (p *Policy) dpopAlgs() string {
	if p.DPoPAlgs == "" {
		return defaultDPoPAlgs
	}
	return p.DPoPAlgs
}

// checkBinding applies the sender binding of a token bound by cnf, in the
// contract's order: cnf against the proof (scheme, proof, thumbprint) or
// the certificate, proof jti replay, required. denied is false when the
// token passes.
func checkBinding(p *Policy, cnf introspection.Cnf, b Binding) (d Decision, denied bool) {
	dpopScheme := b.Scheme == bearer.SchemeDPoP
	jkt, x5t := cnf.JKT, cnf.X5T
	switch {
	case cnf.Unverifiable:
		return p.bindingDeny(InvalidToken, dpopScheme, "the token's confirmation (cnf) claim cannot be verified"), true
	case jkt != "" && !dpopScheme:
		// a downgrade: whether or not a proof came, the token is bound
		return p.bindingDeny(InvalidToken, true, "the token is DPoP-bound: send it with the DPoP scheme and a proof"), true
	case jkt != "" && b.ProofThumbprint == "":
		return p.bindingDeny(InvalidDPoPProof, true, "DPoP proof is missing"), true
	case jkt != "" && subtle.ConstantTimeCompare([]byte(b.ProofThumbprint), []byte(jkt)) != 1:
		return p.bindingDeny(InvalidToken, true, "the DPoP proof's key is not the one the token is bound to"), true
	case jkt != "" && b.Replayed:
		return p.bindingDeny(InvalidDPoPProof, true, "DPoP proof has been used before (jti)"), true
	case jkt == "" && dpopScheme:
		return p.bindingDeny(InvalidToken, true, "the token is not DPoP-bound: send it with the Bearer scheme"), true
	case x5t != "" && b.CertThumbprint == "":
		desc := b.CertProblem
		if desc == "" {
			desc = "the token is certificate-bound and no client certificate came"
		}
		return p.bindingDeny(CertificateMismatch, false, desc), true
	case x5t != "" && subtle.ConstantTimeCompare([]byte(b.CertThumbprint), []byte(x5t)) != 1:
		return p.bindingDeny(CertificateMismatch, false, "the client certificate is not the one the token is bound to"), true
	case !p.Required.satisfiedBy(cnf):
		d := p.unbound()
		d.ReplayCheck = jkt != "" // replay comes before required
		return d, true
	}
	return Decision{}, false
}

// bindingDeny is a 401 of the sender binding; dpopChallenge makes its
// challenge a DPoP one. Its error is invalid_dpop_proof for that reason,
// else invalid_token.
func (p *Policy) bindingDeny(r Reason, dpopChallenge bool, desc string) Decision {
	d := invalidToken(p.Realm, r, desc)
	if r == InvalidDPoPProof {
		d.Error = string(InvalidDPoPProof)
	}
	if dpopChallenge {
		d.DPoPAlgs = p.dpopAlgs()
	}
	return d
}

// unbound is the deny of an unbound token where the tenant requires a
// bound one: a DPoP challenge for dpop and any, a Bearer one for mtls.
func (p *Policy) unbound() Decision {
	switch p.Required {
	case RequireDPoP:
		return p.bindingDeny(UnboundToken, true, "a DPoP-bound access token is required")
	case RequireMTLS:
		return p.bindingDeny(UnboundToken, false, "a certificate-bound access token is required")
	}
	return p.bindingDeny(UnboundToken, true, "a sender-constrained (DPoP or certificate-bound) access token is required")
}

// DenyInvalidDPoPProof is the answer for a DPoP proof that failed its
// checks before introspection (dpop.Verifier.Verify): 401 with a DPoP
// challenge; desc is the proof error's fixed description. The token never
// reaches the authorization server.
func DenyInvalidDPoPProof(p *Policy, desc string) Decision {
	return p.bindingDeny(InvalidDPoPProof, true, desc)
}

// DenyReplayCheckFailed is the answer when the replay cache could not tell
// whether a DPoP proof is fresh (it is full): 503, as for an
// authorization server that cannot answer, with reason
// introspection_error, the contract's reason for a check that cannot be
// completed.
func DenyReplayCheckFailed() Decision {
	d := DenyIntrospectionError()
	d.Description = "the DPoP proof could not be checked for replay"
	return d
}
