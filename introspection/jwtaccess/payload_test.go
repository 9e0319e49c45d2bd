package jwtaccess_test

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// TestVerifyPayload: the envelope, header and signature checks of Verify,
// with the configured typ, and the payload returned unjudged (no iss or
// exp needed) but refused when it is not one object without repeated keys.
func TestVerifyPayload(t *testing.T) {
	e := newEnv(t, jwkstest.KeySet()...)
	v := e.verifier(t, jwtaccess.Options{Types: []string{"secevent+jwt"}})
	set := `{"typ":"secevent+jwt","alg":"RS256","kid":"rsa-1"}`
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"a SET without exp or iss", mint(t, rsa1(), "RS256", set, `{"jti":"1","events":{}}`), nil},
		{"typ application/secevent+jwt", mint(t, rsa1(), "RS256", `{"typ":"application/secevent+jwt","alg":"RS256","kid":"rsa-1"}`, `{"a":1}`), nil},
		{"typ at+jwt", mint(t, rsa1(), "RS256", header("RS256", "rsa-1"), payload(nil)), jwtaccess.ErrInvalidSignature},
		{"alg HS256", hs256([]byte("k"), `{"typ":"secevent+jwt","alg":"HS256"}`, `{"a":1}`), jwtaccess.ErrInvalidSignature},
		{"jku header", mint(t, rsa1(), "RS256", `{"typ":"secevent+jwt","alg":"RS256","kid":"rsa-1","jku":"https://evil.example"}`, `{"a":1}`), jwtaccess.ErrInvalidSignature},
		{"unknown kid", mint(t, rsa1(), "RS256", `{"typ":"secevent+jwt","alg":"RS256","kid":"nope"}`, `{"a":1}`), jwtaccess.ErrInvalidSignature},
		{"repeated key", mint(t, rsa1(), "RS256", set, `{"jti":"1","JTI":"2"}`), jwtaccess.ErrInvalidClaims},
		{"array payload", mint(t, rsa1(), "RS256", set, `[1]`), jwtaccess.ErrInvalidClaims},
		{"opaque", "not-a-jwt", jwtaccess.ErrNotJWS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.VerifyPayload(context.Background(), tc.token)
			wantClass(t, err, tc.want)
			if tc.want == nil && len(p) == 0 {
				t.Error("no payload")
			}
		})
	}
}
