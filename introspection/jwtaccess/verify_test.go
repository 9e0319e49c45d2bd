package jwtaccess_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// hs256 signs the raw header and payload with HMAC-SHA256 keyed with
// secret: the forger's side of the RS256→HS256 key confusion.
func hs256(secret []byte, hdr, body string) string {
	input := jwkstest.Encode([]byte(hdr)) + "." + jwkstest.Encode([]byte(body))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + jwkstest.Encode(mac.Sum(nil))
}

// tamper replaces segment i of a compact token.
func tamper(token string, i int, seg string) string {
	segs := strings.Split(token, ".")
	segs[i] = seg
	return strings.Join(segs, ".")
}

func TestVerifyRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	rsaPubDER := must(x509.MarshalPKIXPublicKey(rsa1().Public()))
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})
	rs := func(hdr, body string) string { return mint(t, rsa1(), "RS256", hdr, body) }
	ok := payload(nil)
	sig := func(tok string) string { return strings.Split(tok, ".")[2] }
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		// Accepted.
		{"RS256", valid(t), nil},
		{"PS256", mint(t, rsa1(), "PS256", header("PS256", "rsa-1"), ok), nil},
		{"ES256", mint(t, ec1(), "ES256", header("ES256", "ec-1"), ok), nil},
		{"EdDSA", mint(t, ed1(), "EdDSA", header("EdDSA", "ed-1"), ok), nil},
		{"no kid", rs(header("RS256", ""), ok), nil},
		{"typ application/at+jwt", rs(`{"alg":"RS256","typ":"application/at+jwt","kid":"rsa-1"}`, ok), nil},
		{"typ AT+JWT", rs(`{"alg":"RS256","typ":"AT+JWT","kid":"rsa-1"}`, ok), nil},
		{"typ Application/At+Jwt", rs(`{"alg":"RS256","typ":"Application/At+Jwt","kid":"rsa-1"}`, ok), nil},
		{"expired: judged by the decision", rs(header("RS256", "rsa-1"), payload(map[string]any{"exp": 1})), nil},
		{"x5t ignored", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","x5t":"abc"}`, ok), nil},
		{"payload with whitespace", rs(header("RS256", "rsa-1"), " {\n"+ok[1:]), nil},

		// Not a JWS: the caller introspects or refuses.
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", jwtaccess.ErrNotJWS},
		{"opaque with dots", "abc.def.ghi", jwtaccess.ErrNotJWS},
		{"two segments", "eyJhbGciOiJSUzI1NiJ9.e30", jwtaccess.ErrNotJWS},
		{"empty", "", jwtaccess.ErrNotJWS},
		{"opaque over 8 KiB", strings.Repeat("a", jwtaccess.MaxTokenBytes) + ".b.c", jwtaccess.ErrNotJWS},
		{"JWE, five segments", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", jwtaccess.ErrNotJWS},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, jwtaccess.ErrNotJWS},

		// The envelope: invalid_signature.
		{"alg none", jwkstest.Encode([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + jwkstest.Encode([]byte(ok)) + ".", jwtaccess.ErrInvalidSignature},
		{"alg none with a signature", tamper(valid(t), 0, jwkstest.Encode([]byte(`{"alg":"none","typ":"at+jwt"}`))), jwtaccess.ErrInvalidSignature},
		{"HS256 keyed with the RSA public key (DER)", hs256(rsaPubDER, header("HS256", "rsa-1"), ok), jwtaccess.ErrInvalidSignature},
		{"HS256 keyed with the RSA public key (PEM)", hs256(rsaPubPEM, header("HS256", ""), ok), jwtaccess.ErrInvalidSignature},
		{"alg not in the allowlist", tamper(valid(t), 0, jwkstest.Encode([]byte(header("RS384", "rsa-1")))), jwtaccess.ErrInvalidSignature},
		{"alg lowercase", rs(header("rs256", "rsa-1"), ok), jwtaccess.ErrInvalidSignature},
		{"alg not a string", rs(`{"alg":["RS256"],"typ":"at+jwt"}`, ok), jwtaccess.ErrInvalidSignature},
		{"no alg", rs(`{"typ":"at+jwt","kid":"rsa-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"alg of another key type", mint(t, ec1(), "ES256", header("ES256", "rsa-1"), ok), jwtaccess.ErrInvalidSignature},
		{"signed by another key", mint(t, rsa2(), "RS256", header("RS256", "rsa-1"), ok), jwtaccess.ErrInvalidSignature},
		{"signature of another token", tamper(valid(t), 2, sig(mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(map[string]any{"sub": "x"})))), jwtaccess.ErrInvalidSignature},
		{"payload changed", tamper(valid(t), 1, jwkstest.Encode([]byte(payload(map[string]any{"scope": "admin"})))), jwtaccess.ErrInvalidSignature},
		{"ES256 signature truncated", tamper(mint(t, ec1(), "ES256", header("ES256", "ec-1"), ok), 2, "AAAA"), jwtaccess.ErrInvalidSignature},
		{"no typ", rs(`{"alg":"RS256","kid":"rsa-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"typ JWT", rs(`{"alg":"RS256","typ":"JWT","kid":"rsa-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"typ with a space", rs(`{"alg":"RS256","typ":"at+jwt ","kid":"rsa-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"typ not a string", rs(`{"alg":"RS256","typ":1,"kid":"rsa-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"kid not a string", rs(`{"alg":"RS256","typ":"at+jwt","kid":1}`, ok), jwtaccess.ErrInvalidSignature},
		{"unknown kid", rs(header("RS256", "rsa-9"), ok), jwtaccess.ErrInvalidSignature},
		{"kid path traversal", rs(header("RS256", "../../jwks"), ok), jwtaccess.ErrInvalidSignature},
		{"crit", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","crit":["exp"],"exp":1}`, ok), jwtaccess.ErrInvalidSignature},
		{"b64 false", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","b64":false,"crit":["b64"]}`, ok), jwtaccess.ErrInvalidSignature},
		{"zip", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","zip":"DEF"}`, ok), jwtaccess.ErrInvalidSignature},
		{"embedded jwk", rs(`{"alg":"RS256","typ":"at+jwt","jwk":`+string(must(jwkstest.JWK(rsa1(), "x").MarshalJSON()))+`}`, ok), jwtaccess.ErrInvalidSignature},
		{"x5c", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","x5c":["MIIB"]}`, ok), jwtaccess.ErrInvalidSignature},
		{"nested JWT (cty JWT)", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","cty":"JWT"}`, ok), jwtaccess.ErrInvalidSignature},
		{"nested JWT (cty application/jwt)", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","cty":"application/JWT"}`, ok), jwtaccess.ErrInvalidSignature},
		{"huge header", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","pad":"`+strings.Repeat("x", jwtaccess.MaxHeaderBytes)+`"}`, ok), jwtaccess.ErrInvalidSignature},
		{"token over 8 KiB", rs(header("RS256", "rsa-1"), payload(map[string]any{"pad": strings.Repeat("x", jwtaccess.MaxTokenBytes)})), jwtaccess.ErrInvalidSignature},
		{"header twice the same key", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","alg":"RS256"}`, ok), jwtaccess.ErrInvalidSignature},
		{"header keys differing in case", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","Kid":"ec-1"}`, ok), jwtaccess.ErrInvalidSignature},
		{"header key repeated through an escape", rs(`{"alg":"RS256","typ":"at+jwt","kid":"rsa-1","\u0061lg":"none"}`, ok), jwtaccess.ErrInvalidSignature},
		{"header not JSON", tamper(valid(t), 0, jwkstest.Encode([]byte(`{"alg":`))), jwtaccess.ErrInvalidSignature},
		{"header data after the object", rs(header("RS256", "rsa-1")+"{}", ok), jwtaccess.ErrInvalidSignature},
		{"header with padding", tamper(valid(t), 0, jwkstest.Encode([]byte(header("RS256", "rsa-1")+" "))+"="), jwtaccess.ErrInvalidSignature},
		{"payload with +", tamper(valid(t), 1, "eyJ+"+jwkstest.Encode([]byte(ok))[4:]), jwtaccess.ErrInvalidSignature},
		{"payload with padding", tamper(valid(t), 1, jwkstest.Encode([]byte(ok+"  "))+"="), jwtaccess.ErrInvalidSignature},
		{"signature with stray bits", tamper(valid(t), 2, sig(valid(t))[:len(sig(valid(t)))-1]+"B"), jwtaccess.ErrInvalidSignature},
		{"signature with a newline", tamper(valid(t), 2, sig(valid(t))[:10]+"\n"+sig(valid(t))[10:]), jwtaccess.ErrInvalidSignature},
		{"empty payload", tamper(valid(t), 1, ""), jwtaccess.ErrInvalidSignature},

		// The payload: invalid_token.
		{"no exp", rs(header("RS256", "rsa-1"), payload(map[string]any{"exp": nil})), jwtaccess.ErrInvalidClaims},
		{"exp null", rs(header("RS256", "rsa-1"), strings.Replace(ok, `"exp":`, `"exp":null,"x":`, 1)), jwtaccess.ErrInvalidClaims},
		{"exp a string", rs(header("RS256", "rsa-1"), payload(map[string]any{"exp": "4102444800"})), jwtaccess.ErrInvalidClaims},
		{"aud a number", rs(header("RS256", "rsa-1"), payload(map[string]any{"aud": 1})), jwtaccess.ErrInvalidClaims},
		{"scope an array", rs(header("RS256", "rsa-1"), payload(map[string]any{"scope": []string{"a"}})), jwtaccess.ErrInvalidClaims},
		{"payload twice the same claim", rs(header("RS256", "rsa-1"), `{"sub":"a",`+ok[1:len(ok)-1]+`,"sub":"b"}`), jwtaccess.ErrInvalidClaims},
		{"payload duplicate through an escape", rs(header("RS256", "rsa-1"), `{"\u0073ub":"a",`+ok[1:]), jwtaccess.ErrInvalidClaims},
		{"payload nested duplicate", rs(header("RS256", "rsa-1"), payload(map[string]any{"cnf": map[string]string{"jkt": "a", "JKT": "b"}})), jwtaccess.ErrInvalidClaims},
		{"payload an array", rs(header("RS256", "rsa-1"), `[`+ok+`]`), jwtaccess.ErrInvalidClaims},
		{"payload a nested JWS", rs(header("RS256", "rsa-1"), `"`+valid(t)+`"`), jwtaccess.ErrInvalidClaims},
		{"payload with its own active", rs(header("RS256", "rsa-1"), payload(map[string]any{"active": false})), jwtaccess.ErrInvalidClaims},
		{"payload deeply nested", rs(header("RS256", "rsa-1"), `{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,`+ok[1:]), jwtaccess.ErrInvalidClaims},

		// iss: issuer.
		{"no iss", rs(header("RS256", "rsa-1"), payload(map[string]any{"iss": nil})), jwtaccess.ErrIssuer},
		{"iss with a trailing slash", rs(header("RS256", "rsa-1"), payload(map[string]any{"iss": issuer + "/"})), jwtaccess.ErrIssuer},
		{"iss in another case", rs(header("RS256", "rsa-1"), payload(map[string]any{"iss": strings.ToUpper(issuer)})), jwtaccess.ErrIssuer},
		{"iss empty", rs(header("RS256", "rsa-1"), payload(map[string]any{"iss": ""})), jwtaccess.ErrIssuer},
		{"iss of another tenant", rs(header("RS256", "rsa-1"), payload(map[string]any{"iss": "https://idp.example/realms/other"})), jwtaccess.ErrIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := verify(e, tc.token)
			t.Log(err)
			wantClass(t, err, tc.want)
			if tc.want == nil && (!c.Active || c.Issuer != issuer || c.Expiry.IsZero()) {
				t.Errorf("claims: active %v, iss %q, exp %v", c.Active, c.Issuer, c.Expiry)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name     string
		edits    map[string]any
		scopes   string
		audience []string
	}{
		{"scope and aud strings", map[string]any{"exp": exp}, "read write", []string{"https://api.example"}},
		{"scp array, aud array", map[string]any{"exp": exp, "scope": nil, "scp": []string{"a", "b c"}, "aud": []string{"x", "y"}}, "a b c", []string{"x", "y"}},
		{"scope wins over scp", map[string]any{"exp": exp, "scp": []string{"z"}}, "read write", []string{"https://api.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := verify(e, mint(t, ec1(), "ES256", header("ES256", "ec-1"), payload(tc.edits)))
			wantClass(t, err, nil)
			if c.ScopeString() != tc.scopes || strings.Join(c.Audience, ",") != strings.Join(tc.audience, ",") {
				t.Errorf("scopes %q aud %q, want %q %q", c.ScopeString(), c.Audience, tc.scopes, tc.audience)
			}
			if !c.Active || c.Subject != "user-1" || c.ClientID != "app" || c.Expiry.Unix() != exp || !c.Has("jti") {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestVerifyTypesOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	body := payload(nil)
	noTyp := mint(t, rsa1(), "RS256", `{"alg":"RS256","kid":"rsa-1"}`, body)
	jwtTyp := mint(t, rsa1(), "RS256", `{"alg":"RS256","typ":"JWT","kid":"rsa-1"}`, body)
	any := e.verifier(t, jwtaccess.Options{Types: []string{}})
	for _, tok := range []string{noTyp, jwtTyp, valid(t)} {
		_, err := any.Verify(t.Context(), tok)
		wantClass(t, err, nil)
	}
	short := e.verifier(t, jwtaccess.Options{Types: []string{"AT+JWT"}})
	_, err := short.Verify(t.Context(), mint(t, rsa1(), "RS256", `{"alg":"RS256","typ":"application/at+jwt","kid":"rsa-1"}`, body))
	wantClass(t, err, nil)
	_, err = short.Verify(t.Context(), jwtTyp)
	wantClass(t, err, jwtaccess.ErrInvalidSignature)
}

func TestVerifyAlgorithmsOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, keySet()...)
	es := e.verifier(t, jwtaccess.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}})
	_, err := es.Verify(t.Context(), valid(t))
	wantClass(t, err, jwtaccess.ErrInvalidSignature)
	_, err = es.Verify(t.Context(), mint(t, ec1(), "ES256", header("ES256", "ec-1"), payload(nil)))
	wantClass(t, err, nil)

	// A JWK that names its alg is used for that alg only.
	pinned := jwkstest.JWK(rsa1(), "rsa-1")
	pinned.Algorithm = "RS256"
	e2 := newEnv(t, pinned)
	_, err = e2.v.Verify(t.Context(), mint(t, rsa1(), "PS256", header("PS256", "rsa-1"), payload(nil)))
	wantClass(t, err, jwtaccess.ErrInvalidSignature)
	_, err = e2.v.Verify(t.Context(), valid(t))
	wantClass(t, err, nil)
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	keys := newEnv(t).jwks
	for _, tc := range []struct {
		name string
		opts jwtaccess.Options
	}{
		{"no issuer", jwtaccess.Options{Keys: keys}},
		{"no keys", jwtaccess.Options{Issuer: issuer}},
		{"none", jwtaccess.Options{Issuer: issuer, Keys: keys, Algorithms: []jose.SignatureAlgorithm{"none"}}},
		{"HS256", jwtaccess.Options{Issuer: issuer, Keys: keys, Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.HS256}}},
		{"HS512", jwtaccess.Options{Issuer: issuer, Keys: keys, Algorithms: []jose.SignatureAlgorithm{jose.HS512}}},
		{"unknown", jwtaccess.Options{Issuer: issuer, Keys: keys, Algorithms: []jose.SignatureAlgorithm{"RS1"}}},
		{"empty list", jwtaccess.Options{Issuer: issuer, Keys: keys, Algorithms: []jose.SignatureAlgorithm{}}},
	} {
		if _, err := jwtaccess.New(tc.opts); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.opts)
		}
	}
}
