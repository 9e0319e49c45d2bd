package dpop

import (
	"strings"
	"testing"
	"time"
)

func TestVerifyRefusesBadClaims(t *testing.T) {
	set := func(name string, value any) func(*testing.T) []string {
		return edited("ES256", func(_, c map[string]any) { c[name] = value })
	}
	drop := func(name string) func(*testing.T) []string {
		return edited("ES256", func(_, c map[string]any) { delete(c, name) })
	}
	cases := []badProof{
		{"jti missing", drop("jti"), "DPoP proof jti is missing"},
		{"jti null", set("jti", nil), "DPoP proof jti is missing"},
		{"jti a number", set("jti", 42), "DPoP proof jti is not a string"},
		{"jti empty", set("jti", ""), "DPoP proof jti is empty"},
		{"jti too long", set("jti", strings.Repeat("j", MaxJTIBytes+1)), "DPoP proof jti is too long"},
		{"htm missing", drop("htm"), "DPoP proof htm is missing"},
		{"htm an array", set("htm", []string{"GET"}), "DPoP proof htm is not a string"},
		{"htm another method", set("htm", "POST"), "DPoP proof htm does not match the request method"},
		{"htm lower case", set("htm", "get"), "DPoP proof htm does not match the request method"},
		{"htu missing", drop("htu"), "DPoP proof htu is missing"},
		{"htu an object", set("htu", map[string]string{"href": testHTU}), "DPoP proof htu is not a string"},
		{"htu another path", set("htu", "https://api.example.com/orders/2"), "DPoP proof htu does not match the request"},
		{"iat missing", drop("iat"), "DPoP proof iat is missing"},
		{"iat a string", set("iat", "1893553445"), "DPoP proof iat is not a NumericDate"},
		{"iat a boolean", set("iat", true), "DPoP proof iat is not a NumericDate"},
		{"iat negative", set("iat", -1), "DPoP proof iat is not a NumericDate"},
		{"iat huge", set("iat", 1e300), "DPoP proof iat is not a NumericDate"},
		{"iat too old", set("iat", testNow.Add(-61*time.Second).Unix()), "DPoP proof is too old (iat)"},
		{"iat in the future", set("iat", testNow.Add(time.Second).Unix()), "DPoP proof is issued in the future (iat)"},
		{"ath missing", drop("ath"), "DPoP proof ath is missing"},
		{"ath a number", set("ath", 1), "DPoP proof ath is not a string"},
		{"ath of another token", set("ath", AccessTokenHash("other")), "DPoP proof ath does not match the access token"},
		{"ath padded", set("ath", AccessTokenHash(testToken)+"="), "DPoP proof ath does not match the access token"},
		{"ath standard base64", set("ath", strings.NewReplacer("-", "+", "_", "/").Replace(AccessTokenHash(testToken))+"x"), "DPoP proof ath does not match the access token"},
		{"ath the token itself", set("ath", testToken), "DPoP proof ath does not match the access token"},
	}
	runBad(t, cases)
}

// iat must be within [now - max_age - leeway, now + leeway].
func TestIATWindow(t *testing.T) {
	v := newTestVerifier(t, Options{MaxAge: 60 * time.Second, Leeway: 30 * time.Second})
	cases := []struct {
		iat  float64 // seconds relative to now
		want string  // "" accepted
	}{
		{0, ""},
		{-90, ""},
		{-90.5, "DPoP proof is too old (iat)"},
		{-91, "DPoP proof is too old (iat)"},
		{30, ""},
		{30.5, "DPoP proof is issued in the future (iat)"},
		{31, "DPoP proof is issued in the future (iat)"},
		{-45.25, ""},
	}
	for _, c := range cases {
		proof := key(t, "ES256").proof(t, func(_, claims map[string]any) { claims["iat"] = float64(testNow.Unix()) + c.iat })
		p, err := v.Verify([]string{proof}, testReq, testToken, testNow)
		if c.want == "" {
			if err != nil {
				t.Errorf("iat now%+v: %v", c.iat, err)
			} else if got := p.IssuedAt.Sub(testNow).Seconds(); got != c.iat {
				t.Errorf("iat now%+v: IssuedAt now%+v", c.iat, got)
			}
			continue
		}
		wantInvalid(t, err, c.want)
	}
	if got := v.ReplayWindow(); got != 120*time.Second {
		t.Fatalf("replay window %v, want 120s", got)
	}
}

// Defaults: max age 60s, no leeway.
func TestIATDefaults(t *testing.T) {
	v := newTestVerifier(t, Options{})
	for off, want := range map[time.Duration]string{
		-60 * time.Second: "",
		-61 * time.Second: "DPoP proof is too old (iat)",
		time.Second:       "DPoP proof is issued in the future (iat)",
	} {
		proof := key(t, "ES256").proof(t, func(_, c map[string]any) { c["iat"] = testNow.Add(off).Unix() })
		_, err := v.Verify([]string{proof}, testReq, testToken, testNow)
		if want == "" && err != nil {
			t.Errorf("%v: %v", off, err)
		} else if want != "" {
			wantInvalid(t, err, want)
		}
	}
	if v.ReplayWindow() != DefaultMaxAge {
		t.Fatal("default replay window")
	}
}

// Claims tokengate does not check (nonce, unknown ones) are ignored, and a
// surrounding space of the header value is too.
func TestVerifyIgnoresOtherClaims(t *testing.T) {
	proof := key(t, "EdDSA").proof(t, func(h, c map[string]any) {
		c["nonce"] = "n-1"
		c["x-extra"] = map[string]any{"a": 1}
		h["kid"] = "key-1"
	})
	if _, err := newTestVerifier(t, Options{}).Verify([]string{" " + proof + "\t"}, testReq, testToken, testNow); err != nil {
		t.Fatal(err)
	}
}
