package introspection

import "encoding/json"

// The confirmation claim (RFC 7800 "cnf") of sender-constrained tokens:
// cnf.jkt binds a token to a DPoP key (RFC 9449 §6.1), cnf["x5t#S256"] to a
// client certificate (RFC 8705 §3.1).
//
// Claims.Cnf reads them from the claim as it arrived, on demand: Claims
// gains no field for them, so a cached entry costs no more memory, and an
// unbound token's check pays one lookup of a claim it does not have.
//
// cnf is not among the registered claims whose wrong JSON type makes the
// whole answer an error (503): the answer is fine, but the token is bound
// to something tokengate cannot verify, so it must never pass as a bearer
// token either: Cnf.Unverifiable, which the decision denies 401
// invalid_token. That covers a cnf that is not a JSON object; jkt or
// x5t#S256 present but not a non-empty string (null included) or longer
// than any SHA-256 thumbprint; and a cnf object with members but neither
// jkt nor x5t#S256 (a confirmation method such as jwk, kid or jku, which a
// resource server of RFC 9449 and RFC 8705 cannot check). An empty object
// binds nothing. Unknown members next to jkt or x5t#S256 are ignored: the
// binding that is checked proves possession already.

// Cnf is what a token's cnf claim binds it to. The zero value is an
// unbound token.
type Cnf struct {
	JKT string // cnf.jkt: the RFC 7638 thumbprint of the DPoP key; "": none
	X5T string // cnf["x5t#S256"]: the client certificate's thumbprint; "": none
	// Unverifiable: the token is bound to something tokengate cannot
	// verify (see above); JKT and X5T are then "".
	Unverifiable bool
}

// maxCnfThumbprint bounds a jkt or x5t#S256: an SHA-256 thumbprint is 43
// characters; anything much longer is no thumbprint.
const maxCnfThumbprint = 128

// Cnf reads the token's cnf claim. It never fails: what it cannot read is
// Unverifiable. Safe for concurrent use, like every reading of Claims.
func (c *Claims) Cnf() Cnf {
	raw, ok := c.Claim("cnf")
	if !ok {
		return Cnf{}
	}
	var members map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &members) != nil {
		return Cnf{Unverifiable: true}
	}
	rawJKT, hasJKT := members["jkt"]
	rawX5T, hasX5T := members["x5t#S256"]
	if !hasJKT && !hasX5T {
		// Only confirmation methods tokengate cannot check, or none.
		return Cnf{Unverifiable: len(members) > 0}
	}
	var cnf Cnf
	if hasJKT {
		cnf.JKT, ok = thumbprintMember(rawJKT)
		cnf.Unverifiable = !ok
	}
	if hasX5T {
		cnf.X5T, ok = thumbprintMember(rawX5T)
		cnf.Unverifiable = cnf.Unverifiable || !ok
	}
	if cnf.Unverifiable {
		return Cnf{Unverifiable: true}
	}
	return cnf
}

// thumbprintMember reads a cnf member that must be a non-empty string of
// at most maxCnfThumbprint bytes.
func thumbprintMember(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil || s == "" || len(s) > maxCnfThumbprint {
		return "", false
	}
	return s, true
}
