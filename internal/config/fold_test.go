package config

import (
	"strings"
	"testing"
)

// Hosts and methods fold ASCII letters only. Unicode case mapping would turn
// U+212A KELVIN SIGN into "k" and U+017F LATIN SMALL LETTER LONG S into "S",
// so a configured "\u212Aiosk.example" would silently become kiosk.example.
// Such names are not host names or method tokens: they are config errors.
func TestHostsAndMethodsFoldASCIIOnly(t *testing.T) {
	env := func(string) (string, bool) { return "x", true }
	parse := func(route string) (*Config, error) {
		return Parse([]byte(`
tenants:
  - name: acme
    introspection:
      url: https://idp.acme.example/introspect
      client_id: rs-acme
      client_secret: s
routes:
  - name: r
    tenant: acme
`+route), env, t.TempDir())
	}
	for _, route := range []string{
		"    hosts: [\"\u212Aiosk.example\"]\n",
		"    hosts: [\"*.\u212Aiosk.example\"]\n",
		"    hosts: [\"\u0130stanbul.example\"]\n",
		"    methods: [\"po\u017Ft\"]\n",
	} {
		if cfg, err := parse(route); err == nil {
			t.Errorf("%s accepted: hosts %q methods %q", strings.TrimSpace(route), cfg.Routes[0].Hosts, cfg.Routes[0].Methods)
		}
	}
	cfg, err := parse("    hosts: [\"Kiosk.EXAMPLE\", \"*.Acme.Example\"]\n    methods: [get, Post]\n")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if strings.Join(r.Hosts, ",") != "kiosk.example,*.acme.example" || strings.Join(r.Methods, ",") != "GET,POST" {
		t.Errorf("hosts %q methods %q", r.Hosts, r.Methods)
	}
}
