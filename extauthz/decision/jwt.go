package decision

// InvalidSignature: a JWT access token (jwt.mode local or
// local_then_introspect) whose JWS is not acceptable: its signature, its
// kid (no such key), its alg or its typ.
const InvalidSignature Reason = "invalid_signature"

// DenyJWT is the answer for a JWT access token that failed a local check
// (before any introspection): r is InvalidSignature, Issuer, InvalidToken
// (exp absent, claims of the wrong type, or a token that is not a JWT
// where nothing can introspect it), Expired or NotYetValid. Each is 401
// with error="invalid_token" and a description saying which check failed.
func DenyJWT(realm string, r Reason) Decision {
	desc := "the token is not an acceptable JWT access token"
	switch r {
	case InvalidSignature:
		desc = "the token's signature, key, algorithm or type is not accepted"
	case Issuer:
		desc = "the token was issued by another issuer"
	case Expired:
		desc = "the token has expired"
	case NotYetValid:
		desc = "the token is not valid yet"
	case InvalidToken:
	default: // a reason no local check gives: fail closed, as invalid_token
		r = InvalidToken
	}
	return invalidToken(realm, r, desc)
}

// DenyNotJWT is the answer for a token that is not a JWT at a tenant
// that checks JWTs locally and has no introspection endpoint.
func DenyNotJWT(realm string) Decision {
	return invalidToken(realm, InvalidToken, "the token is not a JWT access token")
}
