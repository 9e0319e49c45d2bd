package jwtaccess

import (
	"context"
	"fmt"
)

// VerifyPayload checks token's envelope, header (alg, typ, no refused
// parameter), key and signature exactly as Verify does, and returns the
// verified payload, checked to be one JSON object without repeated keys.
// It judges no claim, not even iss: it serves signed JWTs that are not
// access tokens (back-channel logout tokens, Security Event Tokens), whose
// callers check their own claims. Errors are Verify's: ErrNotJWS,
// ErrInvalidSignature, ErrKeysUnavailable, and ErrInvalidClaims for a
// payload that is not such an object.
func (v *Verifier) VerifyPayload(ctx context.Context, token string) ([]byte, error) {
	payload, err := v.signedPayload(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := checkObject(payload, nil); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrInvalidClaims, err)
	}
	return payload, nil
}
