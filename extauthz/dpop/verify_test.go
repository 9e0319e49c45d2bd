package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/testsupport"
)

// RFC 9449 §7.1, Figure 13: a proof for a protected resource request, its
// access token and (§6.1) the thumbprint of its key.
const (
	rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
	rfcToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	rfcJKT   = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
)

func TestRFC9449Figure13(t *testing.T) {
	v := newTestVerifier(t, Options{Origin: "https://resource.example.org"})
	req := Request{Method: "GET", Scheme: "http", Authority: "internal:8080", Path: "/protectedresource"}
	p, err := v.Verify([]string{rfcProof}, req, rfcToken, time.Unix(1562262618, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p.Thumbprint != rfcJKT || p.JTI != "e1j3V_bKic8-LAEB" || !p.IssuedAt.Equal(time.Unix(1562262618, 0)) {
		t.Fatalf("got %+v", p)
	}
	if CheckBinding(p, rfcJKT) != nil {
		t.Fatal("the RFC's proof does not bind to the RFC's jkt")
	}
	if AccessTokenHash(rfcToken) != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Fatal("ath of the RFC's token")
	}
}

func TestVerifyEveryDefaultAlgorithm(t *testing.T) {
	v := newTestVerifier(t, Options{})
	for _, alg := range DefaultAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := key(t, alg)
			p, err := v.Verify([]string{k.proof(t, nil)}, testReq, testToken, testNow)
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := (&jose.JSONWebKey{Key: k.signer.(crypto.Signer).Public()}).Thumbprint(crypto.SHA256)
			if p.Thumbprint != b64(tp) || p.JTI != "e1j3V_bKic8-LAEB" || !p.IssuedAt.Equal(testNow) {
				t.Fatalf("got %+v", p)
			}
		})
	}
}

// The RFC 7638 thumbprint computed by hand for the EC key: the required
// members in lexicographic order, no whitespace.
func TestThumbprintIsRFC7638(t *testing.T) {
	k := key(t, "ES256")
	want := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.jwk["x"].(string) + `","y":"` + k.jwk["y"].(string) + `"}`))
	p, err := newTestVerifier(t, Options{}).Verify([]string{k.proof(t, nil)}, testReq, testToken, testNow)
	if err != nil || p.Thumbprint != b64(want[:]) {
		t.Fatalf("thumbprint %q, err %v", p.Thumbprint, err)
	}
}

// A proof made by go-jose's own signer (another encoder of the same format).
func TestVerifyGoJoseSignedProof(t *testing.T) {
	k := key(t, "ES256")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.signer.(*ecdsa.PrivateKey)},
		&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt"}})
	if err != nil {
		t.Fatal(err)
	}
	_, c := k.standard()
	jws, err := signer.Sign(testsupport.MustJSON(t, c))
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := jws.CompactSerialize()
	if _, err := newTestVerifier(t, Options{}).Verify([]string{compact}, testReq, testToken, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestConfiguredAlgorithms(t *testing.T) {
	es384 := key(t, "ES384").proof(t, nil)
	if _, err := newTestVerifier(t, Options{}).Verify([]string{es384}, testReq, testToken, testNow); err == nil {
		t.Fatal("ES384 accepted by default")
	}
	v := newTestVerifier(t, Options{Algorithms: []string{"ES384"}})
	if _, err := v.Verify([]string{es384}, testReq, testToken, testNow); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify([]string{key(t, "ES256").proof(t, nil)}, testReq, testToken, testNow)
	wantInvalid(t, err, "DPoP proof alg is not allowed")
}

// wantInvalid checks that err is a *ProofError with that description, which
// quotes neither the token nor anything else a client sent.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var pe *ProofError
	if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("err = %v, want a *ProofError %q", err, want)
	}
	if pe.Description != want || err.Error() != want {
		t.Fatalf("description %q, want %q", pe.Description, want)
	}
	if strings.ContainsAny(want, "\"\\\r\n") || strings.Contains(want, testToken) {
		t.Fatalf("description %q is not safe for a challenge", want)
	}
}

type badProof struct {
	name    string
	headers func(t *testing.T) []string
	want    string
}

// runBad checks each case against testReq with the default options.
func runBad(t *testing.T, cases []badProof) {
	v := newTestVerifier(t, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.headers(t), testReq, testToken, testNow)
			wantInvalid(t, err, c.want)
		})
	}
}

func one(s string) func(*testing.T) []string { return func(*testing.T) []string { return []string{s} } }

func edited(alg string, edit func(h, c map[string]any)) func(*testing.T) []string {
	return func(t *testing.T) []string { return []string{key(t, alg).proof(t, edit)} }
}

// raw signs header and payload bytes as they are, with alg's key.
func raw(alg, header, payload string) func(*testing.T) []string {
	return func(t *testing.T) []string { return []string{key(t, alg).sign(t, []byte(header), []byte(payload))} }
}

func TestVerifyRefusesMalformedProofs(t *testing.T) {
	es := func(t *testing.T) string { return key(t, "ES256").proof(t, nil) }
	jwk := func(t *testing.T) string { return string(testsupport.MustJSON(t, key(t, "ES256").jwk)) }
	cases := []badProof{
		{"no header", func(*testing.T) []string { return nil }, "DPoP proof is missing"},
		{"empty header", one(" "), "DPoP proof is missing"},
		{"two headers", func(t *testing.T) []string { return []string{es(t), es(t)} }, "more than one DPoP header"},
		{"comma-joined headers", func(t *testing.T) []string { return []string{es(t) + "," + es(t)} }, "more than one DPoP header"},
		{"huge", one(strings.Repeat("a", MaxProofBytes+1)), "DPoP proof is too large"},
		{"JSON serialization", one(`{"payload":"e30","protected":"e30","signature":"AA"}`), "DPoP proof must use the JWS compact serialization"},
		{"two parts", one("e30.e30"), "DPoP proof is not a compact JWS (three parts)"},
		{"five parts (JWE)", one("e30.a.b.c.d"), "DPoP proof is not a compact JWS (three parts)"},
		{"not base64", one("e30.!!!.AAAA"), "DPoP proof is not base64url"},
		{"padding", one("e30=.e30.AAAA"), "DPoP proof is not base64url"},
		{"line break", func(t *testing.T) []string { s := es(t); return []string{s[:10] + "\n" + s[10:]} }, "DPoP proof is not base64url"},
		{"standard base64", one("e30+.e30.AAAA"), "DPoP proof is not base64url"},
		{"unsigned", func(t *testing.T) []string { s := es(t); return []string{s[:strings.LastIndexByte(s, '.')+1]} }, "DPoP proof is not signed"},
		{"header not JSON", raw("ES256", "not json", "{}"), "DPoP proof header is not a JSON object"},
		{"header an array", raw("ES256", `["typ"]`, "{}"), "DPoP proof header is not a JSON object"},
		{"header null", raw("ES256", `null`, "{}"), "DPoP proof header is not a JSON object"},
		{"typ missing", edited("ES256", func(h, _ map[string]any) { delete(h, "typ") }), "DPoP proof typ is not dpop+jwt"},
		{"typ JWT", edited("ES256", func(h, _ map[string]any) { h["typ"] = "JWT" }), "DPoP proof typ is not dpop+jwt"},
		{"typ at+jwt", edited("ES256", func(h, _ map[string]any) { h["typ"] = "at+jwt" }), "DPoP proof typ is not dpop+jwt"},
		{"typ other case", edited("ES256", func(h, _ map[string]any) { h["typ"] = "DPoP+JWT" }), "DPoP proof typ is not dpop+jwt"},
		{"typ not a string", edited("ES256", func(h, _ map[string]any) { h["typ"] = []string{"dpop+jwt"} }), "DPoP proof typ is not dpop+jwt"},
		{"crit", edited("ES256", func(h, _ map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), "DPoP proof must not have critical (crit) headers"},
		{"empty crit", edited("ES256", func(h, _ map[string]any) { h["crit"] = []string{} }), "DPoP proof must not have critical (crit) headers"},
		{"b64 false", edited("ES256", func(h, _ map[string]any) { h["b64"] = false }), "DPoP proof must not have a b64 header"},
		{"cty JWT", edited("ES256", func(h, _ map[string]any) { h["cty"] = "JWT" }), "DPoP proof must not be a nested JWT (cty)"},
		{"nested JWS", func(t *testing.T) []string {
			k := key(t, "ES256")
			h, _ := k.standard()
			h["cty"] = "JWT"
			return []string{k.sign(t, testsupport.MustJSON(t, h), []byte(k.proof(t, nil)))}
		}, "DPoP proof must not be a nested JWT (cty)"},
		{"nested JWS without cty", func(t *testing.T) []string {
			k := key(t, "ES256")
			h, _ := k.standard()
			return []string{k.sign(t, testsupport.MustJSON(t, h), []byte(k.proof(t, nil)))}
		}, "DPoP proof claims are not a JSON object"},
		{"alg missing", edited("ES256", func(h, _ map[string]any) { delete(h, "alg") }), "DPoP proof alg is missing"},
		{"alg none, signed", edited("ES256", func(h, _ map[string]any) { h["alg"] = "none" }), "DPoP proof alg is not allowed"},
		{"alg none, unsigned", func(t *testing.T) []string {
			h, c := key(t, "ES256").standard()
			h["alg"] = "none"
			return []string{b64(testsupport.MustJSON(t, h)) + "." + b64(testsupport.MustJSON(t, c)) + "."}
		}, "DPoP proof is not signed"},
		{"HS256 with an oct jwk", edited("HS256", nil), "DPoP proof alg is not allowed"},
		{"alg of another case", edited("ES256", func(h, _ map[string]any) { h["alg"] = "es256" }), "DPoP proof alg is not allowed"},
		{"ES256 alg, RSA jwk", edited("RS256", func(h, _ map[string]any) { h["alg"] = "ES256" }), "DPoP proof jwk does not fit its alg"},
		{"RS256 alg, EC jwk", edited("ES256", func(h, _ map[string]any) { h["alg"] = "RS256" }), "DPoP proof jwk does not fit its alg"},
		{"EdDSA alg, X25519 jwk", edited("EdDSA", func(h, _ map[string]any) { h["jwk"].(map[string]any)["crv"] = "X25519" }), "DPoP proof jwk does not fit its alg"},
		{"jwk missing", edited("ES256", func(h, _ map[string]any) { delete(h, "jwk") }), "DPoP proof jwk is missing or not a JSON object"},
		{"jwk a string", edited("ES256", func(h, _ map[string]any) { h["jwk"] = "key" }), "DPoP proof jwk is missing or not a JSON object"},
		{"jwk null", edited("ES256", func(h, _ map[string]any) { h["jwk"] = nil }), "DPoP proof jwk is missing or not a JSON object"},
		{"jwk with d", edited("ES256", func(h, _ map[string]any) {
			h["jwk"].(map[string]any)["d"] = "AAAA"
		}), "DPoP proof jwk must be a public key"},
		{"jwk with k", edited("ES256", func(h, _ map[string]any) { h["jwk"].(map[string]any)["k"] = "AAAA" }), "DPoP proof jwk must be a public key"},
		{"RSA jwk with p q dp dq qi", edited("RS256", func(h, _ map[string]any) {
			for _, m := range []string{"p", "q", "dp", "dq", "qi"} {
				h["jwk"].(map[string]any)[m] = "AQAB"
			}
		}), "DPoP proof jwk must be a public key"},
		{"EC point not on the curve", edited("ES256", func(h, _ map[string]any) {
			j := h["jwk"].(map[string]any)
			j["y"] = j["x"]
		}), "DPoP proof jwk is not a valid public key"},
		{"EC coordinate too short", edited("ES256", func(h, _ map[string]any) { h["jwk"].(map[string]any)["x"] = "AAAA" }), "DPoP proof jwk is not a valid public key"},
		{"EC coordinate not base64", edited("ES256", func(h, _ map[string]any) { h["jwk"].(map[string]any)["x"] = "!!" }), "DPoP proof jwk is not a valid public key"},
		{"RSA key of 1024 bits", edited("RSA1024", nil), "DPoP proof jwk RSA key is shorter than 2048 bits"},
		{"RSA key with e 1", edited("RS256", func(h, _ map[string]any) { h["jwk"].(map[string]any)["e"] = "AQ" }), "DPoP proof jwk is not a valid public key"},
		{"kid not a string", edited("ES256", func(h, _ map[string]any) { h["kid"] = 7 }), "DPoP proof is not a well-formed JWS"},
		{"signed by another key", func(t *testing.T) []string {
			h, c := key(t, "ES256").standard()
			return []string{key(t, "PS256").sign(t, testsupport.MustJSON(t, h), testsupport.MustJSON(t, c))}
		}, "DPoP proof signature does not verify"},
		{"claims changed after signing", func(t *testing.T) []string {
			s := strings.Split(es(t), ".")
			_, c := key(t, "ES256").standard()
			c["htm"] = "POST"
			return []string{s[0] + "." + b64(testsupport.MustJSON(t, c)) + "." + s[2]}
		}, "DPoP proof signature does not verify"},
		{"signature truncated", func(t *testing.T) []string { s := es(t); return []string{s[:len(s)-4]} }, "DPoP proof signature does not verify"},
		{"claims not JSON", func(t *testing.T) []string {
			return raw("ES256", `{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwk(t)+`}`, "not json")(t)
		}, "DPoP proof claims are not a JSON object"},
		{"claims an array", func(t *testing.T) []string {
			return raw("ES256", `{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwk(t)+`}`, `["jti"]`)(t)
		}, "DPoP proof claims are not a JSON object"},
	}
	runBad(t, cases)
}

// checkKey judges the key by the type go-jose decoded, whatever the JSON
// members said.
func TestCheckKeyByType(t *testing.T) {
	pub := func(alg string) *jose.JSONWebKey {
		return &jose.JSONWebKey{Key: key(t, alg).signer.(crypto.Signer).Public()}
	}
	for _, c := range []struct {
		key  *jose.JSONWebKey
		alg  string
		want string
	}{
		{pub("RS256"), "ES256", "DPoP proof jwk does not fit its alg"},
		{pub("ES384"), "ES256", "DPoP proof jwk does not fit its alg"},
		{pub("ES256"), "EdDSA", "DPoP proof jwk does not fit its alg"},
		{pub("EdDSA"), "PS256", "DPoP proof jwk does not fit its alg"},
		{pub("RSA1024"), "PS256", "DPoP proof jwk RSA key is shorter than 2048 bits"},
		{&jose.JSONWebKey{Key: key(t, "ES256").signer}, "ES256", "DPoP proof jwk is not a valid public key"},
		{&jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}, "ES256", "DPoP proof jwk is not a valid public key"},
	} {
		wantInvalid(t, checkKey(c.key, supported[c.alg]), c.want)
	}
	for _, alg := range []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"} {
		if perr := checkKey(pub(alg), supported[alg]); perr != nil {
			t.Errorf("%s: %v", alg, perr)
		}
	}
}
