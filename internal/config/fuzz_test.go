package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/httpsyntax"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("tenants: [\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	// Hosts and methods fold ASCII letters only: U+212A KELVIN SIGN is not
	// "k", U+017F LONG S is not "s"/"S".
	const unicodeFolds = "tenants: [{name: a, introspection: {url: \"https://a.example/i\", client_id: c, client_secret: s}}]\n" +
		"routes: [{name: r, tenant: a, hosts: [\"\u212Aiosk.example\", \"*.Acme.EXAMPLE\"], methods: [\"po\u017Ft\", get]}]\n"
	f.Add([]byte(unicodeFolds))
	env := func(name string) (string, bool) { return "value-of-" + name, true }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env, t.TempDir())
		if err != nil {
			if cfg != nil {
				t.Fatal("a config came with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.TrimSpace(line) == "" {
					t.Fatalf("empty error line in %q", err)
				}
			}
			return
		}
		if len(cfg.Routes) == 0 {
			t.Fatal("a valid config without routes")
		}
		for _, r := range cfg.Routes {
			if !r.Public && r.Tenant == "" {
				t.Fatalf("route %q has no tenant and is not public", r.Name)
			}
			// Hosts are ASCII and lowercase, methods ASCII tokens in
			// uppercase: nothing reached them through Unicode case mapping.
			for _, h := range r.Hosts {
				for i := 0; i < len(h); i++ {
					if c := h[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
						t.Fatalf("route %q host %q", r.Name, h)
					}
				}
			}
			for _, m := range r.Methods {
				if !httpsyntax.IsToken(m) || httpsyntax.ToUpper(m) != m {
					t.Fatalf("route %q method %q", r.Name, m)
				}
			}
		}
	})
}
