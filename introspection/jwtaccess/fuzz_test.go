package jwtaccess_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// staticKeys is a KeySource without a network: the keys whose kid matches
// (all for ""), whatever the alg, so that the verifier meets mismatched
// key types too.
type staticKeys []jose.JSONWebKey

func (s staticKeys) Keys(_ context.Context, kid string, _ jose.SignatureAlgorithm, _ bool) ([]jose.JSONWebKey, error) {
	var out []jose.JSONWebKey
	for _, k := range s {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, introspection.ErrNoMatchingKey
	}
	return out, nil
}

// FuzzVerifyJWT checks that Verify never panics, that every error is of
// one class and never quotes the token, and that whatever it accepts is
// active with the issuer and an exp. Each input is verified as it is, and
// as header and payload signed by a trusted key, to reach the claims.
func FuzzVerifyJWT(f *testing.F) {
	v, err := jwtaccess.New(jwtaccess.Options{Issuer: issuer, Keys: staticKeys(keySet())})
	if err != nil {
		f.Fatal(err)
	}
	edHeader := header("EdDSA", "ed-1")
	for _, seed := range []struct{ token, header, payload string }{
		{valid(f), edHeader, payload(nil)},
		{mint(f, ec1(), "ES256", header("ES256", "ec-1"), payload(nil)), `{"alg":"EdDSA","typ":"at+jwt"}`, payload(map[string]any{"scp": []string{"a"}})},
		{"2YotnFZFEjr1zCsicMWpAA", `{"alg":"EdDSA","typ":"at+jwt","crit":["x"]}`, `{"iss":"` + issuer + `","exp":1,"exp":2}`},
		{"eyJ.eyJ.eyJ", `{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","kid":"rsa-1"}`, `{"iss":"` + issuer + `","exp":"1"}`},
		{"a.b.c.d.e", `{"alg":"none"}`, `[]`},
		{jwkstest.Encode([]byte(`{"alg":"none"}`)) + ".e30.", `{"alg":"EdDSA","typ":"at+jwt","jku":"http://x"}`, `{"iss":"` + issuer + `","exp":1e400,"aud":[1]}`},
		{"", `{"alg":"EdDSA","typ":"AT+JWT","cty":"jwt"}`, `{"active":true,"iss":"` + issuer + `","exp":1}`},
	} {
		f.Add(seed.token, seed.header, seed.payload)
	}
	f.Fuzz(func(t *testing.T, token, hdr, body string) {
		check(t, v, token)
		if len(hdr)+len(body) < jwtaccess.MaxTokenBytes {
			check(t, v, mint(t, ed1(), "EdDSA", hdr, body))
		}
	})
}

func check(t *testing.T, v *jwtaccess.Verifier, token string) {
	c, err := v.Verify(context.Background(), token)
	if err == nil {
		if c == nil || !c.Active || c.Issuer != issuer || !c.Has("exp") {
			t.Fatalf("accepted without active, issuer or exp: %+v", c)
		}
		return
	}
	n := 0
	for _, class := range errorClasses {
		if errors.Is(err, class) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v is of %d classes", err, n)
	}
	if len(token) > 40 && strings.Contains(err.Error(), token) {
		t.Fatalf("error quotes the token: %v", err)
	}
}
