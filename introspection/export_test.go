package introspection

import "time"

// SetResponseClock replaces the clock that c's signed-response checks use
// (the JWKS rate limit and max age, and the iat check). Call it before c is
// used. It does nothing for a client without response_format jwt.
func SetResponseClock(c *Client, now func() time.Time) {
	if c.jwt != nil {
		c.jwt.now = now
		c.jwt.jwks.now = now
	}
}
