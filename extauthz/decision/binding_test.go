package decision

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/bearer"
	"github.com/tokengate/tokengate/introspection"
)

// Thumbprints of the binding table: the token's key and certificate, and
// another client's.
const (
	jkt      = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	otherJKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	x5t      = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"
	otherX5T = "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"
)

// boundClaims are claims that pass policy() up to the sender binding,
// with cnf (JSON, "" for none) and edit's changes to the other claims.
func boundClaims(t *testing.T, cnf string, edit map[string]any) *introspection.Claims {
	t.Helper()
	m := map[string]any{
		"active": true, "scope": "orders.read", "iss": "https://idp.acme.example", "token_type": "DPoP",
		"aud": "api://orders", "exp": now.Add(time.Hour).Unix(),
	}
	if cnf != "" {
		m["cnf"] = json.RawMessage(cnf)
	}
	for k, v := range edit {
		m[k] = v
	}
	var c *introspection.Claims
	body, err := json.Marshal(m)
	if err == nil {
		c, err = introspection.ParseClaims(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecideSenderBinding is every row of the contract's sender binding,
// with its place in the order of checks, reason, error and challenge
// scheme. Pure: the request's side is plain values.
func TestDecideSenderBinding(t *testing.T) {
	dpopKey := `{"jkt":"` + jkt + `"}`
	cert := `{"x5t#S256":"` + x5t + `"}`
	both := `{"jkt":"` + jkt + `","x5t#S256":"` + x5t + `"}`
	bearerNoProof := Binding{Scheme: bearer.SchemeBearer}
	proof := Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt}
	withCert := Binding{Scheme: bearer.SchemeBearer, CertThumbprint: x5t}
	tests := []struct {
		name     string
		required Constraint
		cnf      string
		edit     map[string]any
		b        Binding
		reason   Reason
		errCode  string // body error ("" for an allow)
		scheme   string // challenge scheme: DPoP, Bearer or "" (allow)
		replay   bool   // ReplayCheck
	}{
		{name: "unbound bearer token", b: bearerNoProof, reason: Allowed},
		{name: "unbound token: a proof with the Bearer scheme is ignored", b: Binding{Scheme: bearer.SchemeBearer, ProofThumbprint: jkt}, reason: Allowed},
		{name: "unbound token with the DPoP scheme", b: proof, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "cert-bound token with the DPoP scheme", cnf: cert, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, CertThumbprint: x5t},
			reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "DPoP-bound, fresh proof of its key", cnf: dpopKey, b: proof, reason: Allowed, replay: true},
		{name: "DPoP-bound with the Bearer scheme (downgrade)", cnf: dpopKey, b: bearerNoProof, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "DPoP-bound with the Bearer scheme and a proof of its key", cnf: dpopKey, b: Binding{Scheme: bearer.SchemeBearer, ProofThumbprint: jkt},
			reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "DPoP-bound, DPoP scheme without a proof", cnf: dpopKey, b: Binding{Scheme: bearer.SchemeDPoP},
			reason: InvalidDPoPProof, errCode: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "DPoP-bound, proof of another key", cnf: dpopKey, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: otherJKT},
			reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "thumbprints compare case-sensitively", cnf: `{"jkt":"` + jkt + `"}`, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: "0zCoCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
			reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "DPoP-bound, replayed proof", cnf: dpopKey, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, Replayed: true},
			reason: InvalidDPoPProof, errCode: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "replay comes before audience", cnf: dpopKey, edit: map[string]any{"aud": "api://other"},
			b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, Replayed: true}, reason: InvalidDPoPProof, errCode: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "binding passed: audience decides, on a fresh proof", cnf: dpopKey, edit: map[string]any{"aud": "api://other"}, b: proof,
			reason: Audience, errCode: "invalid_token", scheme: "Bearer", replay: true},
		{name: "binding passed: scopes decide, on a fresh proof", cnf: dpopKey, edit: map[string]any{"scope": "profile"}, b: proof,
			reason: InsufficientScope, errCode: "insufficient_scope", scheme: "Bearer", replay: true},
		{name: "expiry comes before the binding", cnf: dpopKey, edit: map[string]any{"exp": now.Add(-time.Hour).Unix()}, b: bearerNoProof,
			reason: Expired, errCode: "invalid_token", scheme: "Bearer"},
		{name: "inactive comes before the binding", cnf: dpopKey, edit: map[string]any{"active": false}, b: bearerNoProof,
			reason: Inactive, errCode: "invalid_token", scheme: "Bearer"},
		{name: "token_type comes before the binding", required: RequireDPoP, edit: map[string]any{"token_type": "refresh_token"}, b: bearerNoProof,
			reason: TokenType, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cert-bound, its certificate", cnf: cert, b: withCert, reason: Allowed},
		{name: "cert-bound, no certificate", cnf: cert, b: bearerNoProof, reason: CertificateMismatch, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cert-bound, unreadable certificate", cnf: cert, b: Binding{Scheme: bearer.SchemeBearer, CertProblem: "the client certificate cannot be read"},
			reason: CertificateMismatch, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cert-bound, another certificate", cnf: cert, b: Binding{Scheme: bearer.SchemeBearer, CertThumbprint: otherX5T},
			reason: CertificateMismatch, errCode: "invalid_token", scheme: "Bearer"},
		{name: "bound both ways, both right", cnf: both, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, CertThumbprint: x5t}, reason: Allowed, replay: true},
		{name: "bound both ways, wrong certificate", cnf: both, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, CertThumbprint: otherX5T},
			reason: CertificateMismatch, errCode: "invalid_token", scheme: "Bearer"},
		{name: "bound both ways, Bearer scheme", cnf: both, b: withCert, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "required dpop: unbound", required: RequireDPoP, b: bearerNoProof, reason: UnboundToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "required dpop: cert-bound", required: RequireDPoP, cnf: cert, b: withCert, reason: UnboundToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "required dpop: DPoP-bound", required: RequireDPoP, cnf: dpopKey, b: proof, reason: Allowed, replay: true},
		{name: "required mtls: unbound", required: RequireMTLS, b: bearerNoProof, reason: UnboundToken, errCode: "invalid_token", scheme: "Bearer"},
		{name: "required mtls: DPoP-bound (replay still checked first)", required: RequireMTLS, cnf: dpopKey, b: proof,
			reason: UnboundToken, errCode: "invalid_token", scheme: "Bearer", replay: true},
		{name: "required mtls: DPoP-bound, replayed", required: RequireMTLS, cnf: dpopKey, b: Binding{Scheme: bearer.SchemeDPoP, ProofThumbprint: jkt, Replayed: true},
			reason: InvalidDPoPProof, errCode: "invalid_dpop_proof", scheme: "DPoP"},
		{name: "required mtls: cert-bound", required: RequireMTLS, cnf: cert, b: withCert, reason: Allowed},
		{name: "required any: unbound", required: RequireAny, b: bearerNoProof, reason: UnboundToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "required any: cert-bound", required: RequireAny, cnf: cert, b: withCert, reason: Allowed},
		{name: "required any: DPoP-bound", required: RequireAny, cnf: dpopKey, b: proof, reason: Allowed, replay: true},
		{name: "required none is the zero value", required: "", b: bearerNoProof, reason: Allowed},
		{name: "cnf not an object", cnf: `"` + jkt + `"`, b: bearerNoProof, reason: InvalidToken, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cnf not an object, DPoP scheme", cnf: `[1]`, b: proof, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "cnf.jkt not a string", cnf: `{"jkt":42}`, b: proof, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "cnf.jkt empty", cnf: `{"jkt":""}`, b: Binding{Scheme: bearer.SchemeDPoP}, reason: InvalidToken, errCode: "invalid_token", scheme: "DPoP"},
		{name: "cnf.jkt null", cnf: `{"jkt":null}`, b: bearerNoProof, reason: InvalidToken, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cnf x5t#S256 not a string", cnf: `{"x5t#S256":["` + x5t + `"]}`, b: withCert, reason: InvalidToken, errCode: "invalid_token", scheme: "Bearer"},
		{name: "cnf with a confirmation method tokengate cannot check", cnf: `{"jwk":{"kty":"EC"}}`, b: bearerNoProof,
			reason: InvalidToken, errCode: "invalid_token", scheme: "Bearer"},
		{name: "empty cnf binds nothing", cnf: `{}`, b: bearerNoProof, reason: Allowed},
		{name: "cnf null is absent", cnf: `null`, b: bearerNoProof, reason: Allowed},
		{name: "unknown cnf members beside jkt are ignored", cnf: `{"jkt":"` + jkt + `","kid":"k1"}`, b: proof, reason: Allowed, replay: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy()
			p.Required, p.DPoPAlgs, p.TokenTypes = tt.required, "ES256 EdDSA", []string{"Bearer", "DPoP"}
			d := Decide(p, boundClaims(t, tt.cnf, tt.edit), now, tt.b)
			if d.Reason != tt.reason || d.Error != tt.errCode || d.ReplayCheck != tt.replay {
				t.Fatalf("got %q error %q replay %v, want %q %q %v (%s)", d.Reason, d.Error, d.ReplayCheck, tt.reason, tt.errCode, tt.replay, d.Description)
			}
			if d.Allow != (tt.reason == Allowed) || (!d.Allow && (d.Status == 0 || d.Description == "")) {
				t.Fatalf("decision %+v", d)
			}
			if tt.scheme == "" {
				return
			}
			c := d.Challenge()
			want := fmt.Sprintf(`%s realm="acme", error=%q, error_description=%q`, tt.scheme, tt.errCode, d.Description)
			if tt.scheme == "DPoP" {
				want += `, algs="ES256 EdDSA"`
			}
			if d.Scope != "" {
				want = fmt.Sprintf(`%s realm="acme", error=%q, error_description=%q, scope=%q`, tt.scheme, tt.errCode, d.Description, d.Scope)
			}
			if c != want {
				t.Errorf("challenge\n got %s\nwant %s", c, want)
			}
		})
	}
}

func TestSenderChallenges(t *testing.T) {
	p := &Policy{Realm: "acme", DPoPAlgs: "ES256 PS256"}
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"missing token, nothing required", DenyMissingToken(p), `Bearer realm="acme"`},
		{"missing token, required mtls", DenyMissingToken(&Policy{Realm: "acme", Required: RequireMTLS}), `Bearer realm="acme"`},
		{"missing token, required dpop", DenyMissingToken(&Policy{Realm: "acme", Required: RequireDPoP, DPoPAlgs: "ES256 PS256"}), `DPoP realm="acme", algs="ES256 PS256"`},
		{"missing token, required any, default algs", DenyMissingToken(&Policy{Realm: "acme", Required: RequireAny}), `DPoP realm="acme", algs="ES256 RS256 PS256 EdDSA"`},
		{"malformed proof", DenyInvalidDPoPProof(p, "DPoP proof typ is not dpop+jwt"),
			`DPoP realm="acme", error="invalid_dpop_proof", error_description="DPoP proof typ is not dpop+jwt", algs="ES256 PS256"`},
		{"unbound, required mtls", func() Decision { q := *p; q.Required = RequireMTLS; return q.unbound() }(),
			`Bearer realm="acme", error="invalid_token", error_description="a certificate-bound access token is required"`},
		{"replay cache failed has none", DenyReplayCheckFailed(), ""},
	}
	for _, tt := range tests {
		if got := tt.d.Challenge(); got != tt.want {
			t.Errorf("%s: Challenge() = %q, want %q", tt.name, got, tt.want)
		}
	}
	var body map[string]string
	if err := json.Unmarshal(DenyInvalidDPoPProof(p, "x").Body(), &body); err != nil || body["error"] != "invalid_dpop_proof" {
		t.Errorf("proof deny body %v %v", body, err)
	}
	if d := DenyReplayCheckFailed(); d.Status != 503 || d.Reason != IntrospectionError {
		t.Errorf("replay cache failure: %+v", d)
	}
}
