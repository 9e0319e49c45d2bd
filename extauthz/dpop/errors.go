package dpop

import "errors"

// ErrInvalidProof matches (errors.Is) every *ProofError: a proof that is
// missing, duplicated, malformed, fails a check of RFC 9449 §4.3 or was
// replayed. Callers answer 401 with reason invalid_dpop_proof.
var ErrInvalidProof = errors.New("invalid DPoP proof")

// ErrReplayed is the cause (errors.Is) of the *ProofError returned when a
// proof's jti was already used for the tenant within the replay window.
var ErrReplayed = errors.New("DPoP proof jti was used before")

// ErrKeyMismatch is returned by CheckBinding when the proof's key is not the
// one the token is bound to (cnf.jkt). It is not a *ProofError: callers
// answer 401 with reason invalid_token.
var ErrKeyMismatch = errors.New("DPoP proof key does not match the token's cnf.jkt")

// ProofError is a proof that fails a check. Description is short, fixed
// text, safe for an error_description and for logs: it never quotes the
// proof, the token or anything else the client sent. Err, when not nil, is
// the underlying cause (for example a go-jose parse error); it may quote
// parts of the proof, so it is for debugging, never for a response.
type ProofError struct {
	Description string
	Err         error
}

// Error returns the description only (see ProofError).
func (e *ProofError) Error() string { return e.Description }

// Unwrap returns the cause, if any.
func (e *ProofError) Unwrap() error { return e.Err }

// Is makes every *ProofError match ErrInvalidProof.
func (e *ProofError) Is(target error) bool { return target == ErrInvalidProof }

// invalid returns a *ProofError with the description and optional cause.
func invalid(description string, cause error) *ProofError {
	return &ProofError{Description: description, Err: cause}
}
