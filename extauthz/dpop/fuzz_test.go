package dpop

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/testsupport"
)

// FuzzVerifyProof: any DPoP header value is either a valid proof or a
// *ProofError with a fixed description; never a panic.
func FuzzVerifyProof(f *testing.F) {
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA", "HS256", "RSA1024"} {
		f.Add(key(f, alg).proof(f, nil))
	}
	es := key(f, "ES256")
	for _, edit := range []func(h, c map[string]any){
		func(h, _ map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false },
		func(h, _ map[string]any) { h["jwk"].(map[string]any)["d"] = "AAAA" },
		func(h, _ map[string]any) { j := h["jwk"].(map[string]any); j["y"] = j["x"] },
		func(h, _ map[string]any) { h["cty"] = "JWT" },
		func(_, c map[string]any) { c["iat"] = "now" },
		func(_, c map[string]any) { c["htu"] = "https://api.example.com:443/%2e%2e/orders/1" },
	} {
		f.Add(es.proof(f, edit))
	}
	for _, s := range []string{"", "a.b.c", "e30.e30.", "e30.e30.e30", "{}", "x,y", rfcProof, strings.Repeat(".", 3)} {
		f.Add(s)
	}
	v := newTestVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Verify([]string{proof}, testReq, testToken, testNow)
		if err == nil {
			if len(strings.Trim(proof, " \t")) > MaxProofBytes || len(p.Thumbprint) != 43 || p.JTI == "" || len(p.JTI) > MaxJTIBytes {
				t.Fatalf("accepted %q as %+v", proof, p)
			}
			return
		}
		var pe *ProofError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProof) || pe.Description == "" {
			t.Fatalf("error %v is not a *ProofError", err)
		}
		if len(proof) >= 4 && strings.Contains(pe.Description, proof) {
			t.Fatalf("description %q quotes the proof", pe.Description)
		}
	})
}

// FuzzSignedProof signs any header and claims with the ES256 test key, so
// that the checks behind the signature get fuzzed too: an accepted proof
// has typ dpop+jwt, this request's htm and the token's ath.
func FuzzSignedProof(f *testing.F) {
	k := key(f, "ES256")
	h, c := k.standard()
	f.Add(string(testsupport.MustJSON(f, h)), string(testsupport.MustJSON(f, c)))
	h["crit"] = []string{"b64"}
	c["iat"] = "1"
	f.Add(string(testsupport.MustJSON(f, h)), string(testsupport.MustJSON(f, c)))
	f.Add(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}`, `[]`)
	v := newTestVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, header, claims string) {
		p, err := v.Verify([]string{k.sign(t, []byte(header), []byte(claims))}, testReq, testToken, testNow)
		if err != nil {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("error %v is not a *ProofError", err)
			}
			return
		}
		var h, c map[string]any
		if json.Unmarshal([]byte(header), &h) != nil || json.Unmarshal([]byte(claims), &c) != nil ||
			h["typ"] != "dpop+jwt" || c["htm"] != "GET" || c["ath"] != AccessTokenHash(testToken) || c["jti"] != p.JTI {
			t.Fatalf("accepted header %q claims %q", header, claims)
		}
	})
}

// FuzzHTU: comparing any htu with the request never panics, and an htu that
// parses parses the same again when written in its normal form.
func FuzzHTU(f *testing.F) {
	for _, s := range []string{testHTU, "HTTPS://API.example.com:443//orders/%31?x#y", "http://[::1]:80", "https://a@b/c", "https://x:/..;/"} {
		f.Add(s)
	}
	v := newTestVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, htu string) {
		_ = v.matchHTU(htu, testReq)
		o, path, ok := parseHTU(htu)
		if !ok {
			return
		}
		again, path2, ok := parseHTU(o.scheme + "://" + o.host + ":" + strconv.Itoa(o.port) + path)
		if !ok || again != o || path2 != path || path == "" || path[0] != '/' {
			t.Fatalf("%q: %+v %q, then %+v %q %v", htu, o, path, again, path2, ok)
		}
	})
}
