package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// TestValidFixturesParse: every testdata/valid/*.yaml loads, among them
// contract_example.yaml, the contract's full example verbatim (with its
// jwt, events and route-policy keys at their "off" values).
func TestValidFixturesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("valid fixtures: %v", err)
	}
	for _, f := range files {
		mustParseFixture(t, filepath.Join("valid", filepath.Base(f)))
	}
}

// TestNotYetKeysChangeNothing: the not-yet-built keys at their "off" values
// decode to the same Config as without them.
func TestNotYetKeysChangeNothing(t *testing.T) {
	const base = `
tenants:
  - name: acme
    introspection: {url: "https://idp.acme.example/introspect", client_id: rs, client_secret: s}
%s
routes:
  - name: r
    tenant: acme
%s
`
	without, err := Parse([]byte(fmt.Sprintf(base, "", "")), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	with, err := Parse([]byte(fmt.Sprintf(base, `
    jwt: {mode: "off", jwks_url: "https://idp.acme.example/jwks", algorithms: [ES256], typ: []}
    events:
      backchannel_logout: {client_id: ""}
      ssf: {issuer: "", audience: "https://rs.acme.example"}
      jwks_url: "https://idp.acme.example/jwks"
      revocation_ttl: 1h`, `
    acr_values: []
    max_age: 0s
    when: []
    enforce: true`)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(without, with) {
		t.Errorf("the keys at their off values changed the Config:\n%+v\n%+v", without, with)
	}
}
