// Package tokenid names a token in logs, revocations (the admin API's
// token_id) and cache indexes without keeping the token itself. It is a leaf
// (standard library only) so that the caches, the shared cache and the
// request parser agree on one identity without importing each other.
package tokenid

import (
	"crypto/sha256"
	"encoding/hex"
)

// Len is the length of an ID, in hex digits.
const Len = 12

// Of is the loggable identity of a token: the first 12 hex digits of its
// SHA-256. It is what the admin API's token_id revocations name, so it
// must never change for a given token.
func Of(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:Len/2])
}
