package dpoptest

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// Hostile is a named DPoP header value that must be refused 401
// invalid_dpop_proof before the token reaches the authorization server.
type Hostile struct{ Name, Proof string }

// HostileProofs are malformed proofs of every kind for a request (method,
// htu) with token, each otherwise valid: not base64, not JSON, huge, a
// nested JWS, a jwk with a private member, crit headers, wrong typ, alg
// none and HS256, an EC point off its curve, an RSA key under 2048 bits, a
// bad signature.
func HostileProofs(tb testing.TB, method, htu, token string) []Hostile {
	tb.Helper()
	es := NewKey(tb, "ES256")
	claims := func() map[string]any { return Claims(method, htu, token, time.Now()) }
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	good := es.Proof(tb, method, htu, token)
	withPrivate := es.JWK()
	withPrivate["d"] = b64(strings.Repeat("d", 32))
	offCurve := es.JWK()
	offCurve["y"] = offCurve["x"]
	cut := strings.LastIndexByte(good, '.')
	var out []Hostile
	add := func(name, proof string) { out = append(out, Hostile{name, proof}) }
	add("not base64", "!!!.###.$$$")
	add("not JSON", b64("not json")+"."+b64("{}")+".c2ln")
	add("two parts", good[:cut])
	add("huge", good+strings.Repeat("A", 9<<10))
	add("JSON serialization", `{"payload":"e30","signatures":[]}`)
	add("nested JWS", es.SignPayload(tb, map[string]any{"cty": "JWT"}, []byte(good)))
	add("JWS payload instead of claims", es.SignPayload(tb, nil, []byte(good)))
	add("jwk with d", es.Sign(tb, map[string]any{"jwk": withPrivate}, claims()))
	add("crit header", es.Sign(tb, map[string]any{"crit": []string{"exp"}, "exp": 1}, claims()))
	add("wrong typ", es.Sign(tb, map[string]any{"typ": "JWT"}, claims()))
	add("no typ", es.Sign(tb, map[string]any{"typ": nil}, claims()))
	add("alg none", b64(`{"typ":"dpop+jwt","alg":"none"}`)+"."+b64(`{}`)+".")
	add("alg HS256", b64(`{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}`)+"."+b64(`{}`)+".c2ln")
	add("EC point not on the curve", es.Sign(tb, map[string]any{"jwk": offCurve}, claims()))
	add("RSA key under 2048 bits", NewKey(tb, "RSA1024").Proof(tb, method, htu, token))
	add("no jwk", es.Sign(tb, map[string]any{"jwk": nil}, claims()))
	add("bad signature", good[:cut+1]+b64(strings.Repeat("s", 64)))
	other := NewKey(tb, "ES384").Proof(tb, method, htu, token)
	add("another key's signature", good[:cut]+other[strings.LastIndexByte(other, '.'):])
	add("claims not an object", es.Sign(tb, nil, []string{"jti"}))
	add("two proofs", good+","+good)
	return out
}
