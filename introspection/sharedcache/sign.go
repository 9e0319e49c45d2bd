package sharedcache

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
)

// Signed entries (Options.SigningKey set). Anyone who can write to Redis
// could otherwise store claims for a token that was never issued, and every
// replica would allow it. A signed entry's value is
//
//	"tg1." EXP "." MAC "." JSON
//
// EXP the entry's expiry (unix ms, decimal), JSON the claims, MAC the
// base64url (no padding) of HMAC-SHA256 under the signing key over a
// domain tag, the full Redis key name, EXP and JSON, each but the last
// preceded by its length. The key name binds an entry to its key (copied to
// another token's, tenant's or deployment's key, it fails); EXP keeps a
// copy of an old entry, written back without a TTL, from outliving it.
//
// Revocation markers, index sets and pub/sub messages are not signed: a
// forged one can only deny, or evict and so make replicas ask the
// authorization server again (fail closed). Signing cannot stop someone who
// writes to Redis from deleting entries or markers: limit that with Redis
// ACLs.

const (
	signedPrefix = "tg1."
	macTag       = "tokengate shared cache entry v1"
	// clockSkew is how far past its EXP an entry is still put down to the
	// replicas' clocks (ignored, but not counted as forged).
	clockSkew = 5 * time.Second
)

// openResult is what open made of a value.
type openResult int

const (
	opened  openResult = iota // signed by the key, for this key name, not expired
	expired                   // genuine but past its EXP (clock skew): a miss
	forged                    // unsigned, malformed, or the MAC does not verify
)

func (s *Shared) mac(name string, exp, body []byte) []byte {
	m := hmac.New(sha256.New, s.opts.SigningKey)
	var n [4]byte
	for _, f := range [][]byte{[]byte(macTag), []byte(name), exp} {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write(f)
	}
	m.Write(body)
	return m.Sum(nil)
}

// seal returns the value to store under the key name for body, which
// expires at exp; body itself without a signing key.
func (s *Shared) seal(name string, body []byte, exp time.Time) []byte {
	if len(s.opts.SigningKey) == 0 {
		return body
	}
	e := strconv.AppendInt(nil, exp.UnixMilli(), 10)
	mac := s.mac(name, e, body)
	out := make([]byte, 0, len(signedPrefix)+len(e)+1+base64.RawURLEncoding.EncodedLen(len(mac))+1+len(body))
	out = append(out, signedPrefix...)
	out = append(out, e...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, mac)
	out = append(out, '.')
	return append(out, body...)
}

// open checks a value read under the key name and returns its JSON. The
// MAC is compared in constant time. Without a signing key every value is
// taken as it is.
func (s *Shared) open(name string, value []byte) ([]byte, openResult) {
	if len(s.opts.SigningKey) == 0 {
		return value, opened
	}
	rest, ok := bytes.CutPrefix(value, []byte(signedPrefix))
	if !ok {
		return nil, forged
	}
	e, rest, ok := bytes.Cut(rest, []byte("."))
	if !ok {
		return nil, forged
	}
	sig, body, ok := bytes.Cut(rest, []byte("."))
	if !ok {
		return nil, forged
	}
	got, err := base64.RawURLEncoding.DecodeString(string(sig))
	if err != nil || !hmac.Equal(got, s.mac(name, e, body)) {
		return nil, forged
	}
	ms, err := strconv.ParseInt(string(e), 10, 64)
	if err != nil {
		return nil, forged // signed by us, so never: but not trusted either
	}
	if late := s.opts.Now().Sub(time.UnixMilli(ms)); late > 0 {
		if late > clockSkew {
			return nil, forged // an old entry written back
		}
		return nil, expired
	}
	return body, opened
}
