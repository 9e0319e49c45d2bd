package jwtaccess

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// MaxTokenBytes bounds a token, as the bearer syntax does.
	MaxTokenBytes = 8192
	// MaxHeaderBytes bounds a JWS header, decoded. Access token headers
	// hold alg, typ, kid and perhaps x5t: a few hundred bytes at most.
	MaxHeaderBytes = 1024
	// maxDepth bounds the nesting of the header and payload JSON.
	maxDepth = 32
)

// refusedHeaders are header parameters whose presence fails the token.
// jku, x5u, jwk and x5c carry or point at keys: keys come from the
// configured JWKS only, so a token naming its own is refused outright (not
// just ignored) so that no later change can start trusting them. crit:
// RFC 9068 tokens need no extensions, and an unknown one must fail. b64
// (RFC 7797) changes what is signed; zip and enc belong to JWE.
var refusedHeaders = []string{"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc"}

// parseCompact splits token and returns its decoded header. A token
// counts as a JWS when it has exactly three segments and the first starts
// with "eyJ" (base64url of `{"`) or decodes to a JSON object; anything
// else, a JWE's five segments and opaque tokens included, is ErrNotJWS.
// Past that, the token must be at most MaxTokenBytes, every segment strict
// base64url (no padding, no other characters, no stray bits), the payload
// and signature not empty, the header at most MaxHeaderBytes: else
// ErrInvalidSignature.
func parseCompact(token string) ([]byte, error) {
	segs := strings.SplitN(token, ".", 6)
	switch {
	case len(segs) == 5 && strings.HasPrefix(token, "eyJ"):
		return nil, fmt.Errorf("%w: five segments (an encrypted JWT, JWE)", ErrNotJWS)
	case len(segs) != 3:
		return nil, fmt.Errorf("%w: not three dot-separated segments", ErrNotJWS)
	case len(token) > MaxTokenBytes && strings.HasPrefix(token, "eyJ"):
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidSignature, MaxTokenBytes)
	case len(token) > MaxTokenBytes:
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrNotJWS, MaxTokenBytes)
	}
	header, err := decodeSegment(segs[0])
	switch {
	case !strings.HasPrefix(token, "eyJ") && (err != nil || len(header) == 0 || header[0] != '{'):
		return nil, fmt.Errorf("%w: the first segment is not a JSON object", ErrNotJWS)
	case err != nil:
		return nil, fmt.Errorf("%w: header: %w", ErrInvalidSignature, err)
	case len(header) > MaxHeaderBytes:
		return nil, fmt.Errorf("%w: header larger than %d bytes", ErrInvalidSignature, MaxHeaderBytes)
	}
	for _, seg := range [...]struct{ name, s string }{{"payload", segs[1]}, {"signature", segs[2]}} {
		b, err := decodeSegment(seg.s)
		if err == nil && len(b) == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidSignature, seg.name, err)
		}
	}
	return header, nil
}

// decodeSegment decodes strict unpadded base64url. The check of the
// alphabet comes first because the decoder skips CR and LF.
func decodeSegment(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return nil, errors.New("not base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

func isBase64URL(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_'
}

// header is what Verify uses of a JWS header.
type header struct {
	alg jose.SignatureAlgorithm
	kid string // "": none
}

// checkHeader checks the decoded header: one JSON object without repeated
// keys, no refused parameter, alg a string in the allowlist, typ allowed,
// kid a string, and no nesting (cty JWT). kid is only ever compared with
// the kids of the key set, never used to build a path or URL.
func (v *Verifier) checkHeader(raw []byte) (header, error) {
	if err := checkObject(raw, nil); err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return header{}, errors.New("header is not a JSON object")
	}
	for _, name := range refusedHeaders {
		if _, ok := m[name]; ok {
			return header{}, fmt.Errorf("header parameter %q is refused", name)
		}
	}
	alg, ok, err := headerString(m, "alg")
	switch {
	case err != nil:
		return header{}, err
	case !ok:
		return header{}, errors.New("header has no alg")
	case !slices.Contains(v.algs, jose.SignatureAlgorithm(alg)):
		return header{}, errors.New("header alg is not an accepted algorithm")
	}
	typ, hasTyp, err := headerString(m, "typ")
	switch {
	case err != nil:
		return header{}, err
	case v.anyType:
	case !hasTyp:
		return header{}, errors.New("header has no typ")
	case !v.types[normalizeType(typ)]:
		return header{}, errors.New("header typ is not an accepted type")
	}
	cty, _, err := headerString(m, "cty")
	if err != nil {
		return header{}, err
	}
	if normalizeType(cty) == "application/jwt" {
		return header{}, errors.New("nested JWT (cty JWT) is refused")
	}
	kid, _, err := headerString(m, "kid")
	if err != nil {
		return header{}, err
	}
	return header{alg: jose.SignatureAlgorithm(alg), kid: kid}, nil
}

// headerString reads header parameter name: ok false when absent, an error
// when present but not a string.
func headerString(m map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, fmt.Errorf("header %s is not a string", name)
	}
	return s, true, nil
}

// withActive checks the payload (one JSON object, no repeated keys, no
// "active" claim of its own) and returns it with "active":true added, for
// introspection.ParseClaims.
func withActive(payload []byte) ([]byte, error) {
	err := checkObject(payload, func(key string) error {
		if strings.EqualFold(key, "active") {
			return errors.New("payload has an \"active\" claim, which JWT access tokens do not carry")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	const ws = " \t\r\n"
	rest := bytes.TrimLeft(bytes.TrimLeft(payload, ws)[1:], ws) // after the '{' checkObject found
	out := make([]byte, 0, len(payload)+len(`{"active":true,`))
	out = append(out, `{"active":true`...)
	if rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}
