package config

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestValidFixturesParse: every testdata/valid/*.yaml loads, among them
// contract_example.yaml, the contract's full example verbatim.
func TestValidFixturesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("valid fixtures: %v", err)
	}
	for _, f := range files {
		mustParseFixture(t, filepath.Join("valid", filepath.Base(f)))
	}
}

// TestEvents: the events section decodes with its defaults; the
// contract's example has it off.
func TestEvents(t *testing.T) {
	const base = `
tenants:
  - name: acme
    issuer: "https://idp.acme.example"
    introspection: {url: "https://idp.acme.example/introspect", client_id: rs, client_secret: s}
%s
routes:
  - name: r
    tenant: acme
`
	for _, tc := range []struct {
		name, yaml string
		want       Events
		on         bool
		keys       string
	}{
		{"absent", "", Events{RevocationTTL: DefaultRevocationTTL}, false, "https://idp.acme.example"},
		{"off values", `
    events:
      backchannel_logout: {client_id: ""}
      ssf: {issuer: "", audience: ""}
      jwks_url: ""
      revocation_ttl: 24h`, Events{RevocationTTL: DefaultRevocationTTL}, false, "https://idp.acme.example"},
		{"back-channel logout", `
    events:
      backchannel_logout: {client_id: rs-acme}
      revocation_ttl: 1h`, Events{BackchannelClientID: "rs-acme", RevocationTTL: time.Hour}, true, "https://idp.acme.example"},
		{"ssf with jwks_url", `
    events:
      ssf: {issuer: "https://ssf.example", audience: "https://rs.acme.example"}
      jwks_url: "https://ssf.example/jwks"`, Events{SSFIssuer: "https://ssf.example", SSFAudience: "https://rs.acme.example",
			JWKSURL: "https://ssf.example/jwks", RevocationTTL: DefaultRevocationTTL}, true, "https://idp.acme.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(fmt.Sprintf(base, tc.yaml)), nil, "")
			if err != nil {
				t.Fatal(err)
			}
			tn := &cfg.Tenants[0]
			if tn.Events != tc.want || tn.Events.On() != tc.on || tn.KeysIssuer() != tc.keys {
				t.Errorf("events %+v (on %t, keys issuer %q), want %+v", tn.Events, tn.Events.On(), tn.KeysIssuer(), tc.want)
			}
		})
	}
	cfg := mustParseFixture(t, filepath.Join("valid", "contract_example.yaml"))
	if cfg.Tenants[0].Events.On() {
		t.Errorf("the contract's example turns events on: %+v", cfg.Tenants[0].Events)
	}
}

// TestEventsKeysIssuerWithoutTenantIssuer: an SSF-only tenant without an
// issuer discovers the events' keys from the transmitter's metadata.
func TestEventsKeysIssuerWithoutTenantIssuer(t *testing.T) {
	cfg, err := Parse([]byte(`
tenants:
  - name: acme
    introspection: {url: "https://idp.acme.example/introspect", client_id: rs, client_secret: s}
    events:
      ssf: {issuer: "https://ssf.example", audience: rs}
routes:
  - name: r
    tenant: acme
`), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Tenants[0].KeysIssuer(); got != "https://ssf.example" {
		t.Errorf("keys issuer %q", got)
	}
}
