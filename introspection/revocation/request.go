package revocation

import (
	"errors"
	"fmt"
)

// ErrInvalid marks a Request that names no token, or more than one kind
// of match, or an unknown tenant.
var ErrInvalid = errors.New("invalid revocation")

// ErrUnavailable marks a revocation that evicted locally but could not
// reach the shared store: other replicas may still hold the token. Retry
// it.
var ErrUnavailable = errors.New("shared cache unavailable")

// Request names what to evict: exactly one of Token, TokenID (the
// 12-hex-digit token_id of the logs, across tenants), or Tenant with Sub.
// It is the admin API's JSON body as is.
type Request struct {
	Token   string `json:"token,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	Sub     string `json:"sub,omitempty"`
}

// Kind is "token", "token_id" or "sub"; Validate must have passed.
func (r *Request) Kind() string {
	switch {
	case r.Token != "":
		return "token"
	case r.TokenID != "":
		return "token_id"
	default:
		return "sub"
	}
}

// Validate reports a malformed request (wrapping ErrInvalid).
func (r *Request) Validate() error {
	n := 0
	if r.Token != "" {
		n++
	}
	if r.TokenID != "" {
		n++
		if len(r.TokenID) != 12 || !isLowerHex(r.TokenID) {
			return fmt.Errorf("%w: token_id must be 12 lowercase hex digits", ErrInvalid)
		}
	}
	if r.Tenant != "" || r.Sub != "" {
		n++
		if r.Tenant == "" || r.Sub == "" {
			return fmt.Errorf("%w: tenant and sub go together", ErrInvalid)
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: give exactly one of token, token_id, or tenant with sub", ErrInvalid)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
