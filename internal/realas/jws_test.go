package realas

// JWS helpers of the JWT tests: a token's parts, forgeries of it, and how
// often the provider was asked to introspect it.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/testsupport"
)

// jwsParts decodes the header and claims of a JWS compact token.
func jwsParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token (%d parts)", len(parts))
	}
	for i, into := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
	}
	return header, claims
}

func jsonB64(t *testing.T, v any) string {
	t.Helper()
	return b64(testsupport.MustJSON(t, v))
}

// forgeries makes tokens from a genuine one that no key of the provider
// signed: its claims re-signed with a foreign key under its own kid and
// under another, with alg none, and with a changed claim under the
// original signature.
func forgeries(t *testing.T, genuine string) map[string]string {
	t.Helper()
	header, claims := jwsParts(t, genuine)
	parts := strings.Split(genuine, ".")
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(h map[string]any, payload string) string {
		input := jsonB64(t, h) + "." + payload
		sum := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(rand.Reader, foreign, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64(sig)
	}
	with := func(k string, v any) map[string]any {
		h := map[string]any{}
		for hk, hv := range header {
			h[hk] = hv
		}
		h[k] = v
		return h
	}
	wider := map[string]any{}
	for k, v := range claims {
		wider[k] = v
	}
	wider["scope"] = "orders.read orders.write"
	out := map[string]string{
		"foreign key under the provider's kid": sign(header, parts[1]),
		"foreign key under an unknown kid":     sign(with("kid", "not-a-provider-key"), parts[1]),
		"alg none":                             jsonB64(t, with("alg", "none")) + "." + parts[1] + ".",
		"claims changed under the signature":   parts[0] + "." + jsonB64(t, wider) + "." + parts[2],
	}
	for _, f := range out {
		remember(f)
	}
	return out
}

// introspections is how many introspection requests named token at the
// provider (server.mjs counts them), from tokengate or the tests.
func (p *provider) introspections(t *testing.T, token string) int {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/_realas/introspections?token_sha256="+hex.EncodeToString(sum[:]), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("introspection count: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Count *int `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Count == nil {
		t.Fatalf("introspection count: status %d, %v", resp.StatusCode, err)
	}
	return *out.Count
}

// expectIntrospections fails the test unless the provider was asked to
// introspect token want times (what names the token in the message).
func expectIntrospections(t *testing.T, p *provider, what, token string, want int) {
	t.Helper()
	if n := p.introspections(t, token); n != want {
		t.Errorf("%s: introspected %d times; want %d", what, n, want)
	}
}
