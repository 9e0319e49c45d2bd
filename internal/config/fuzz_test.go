package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		}
	})
}
