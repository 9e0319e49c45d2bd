package config

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaKeys is every key the decoder allows, as dotted paths with list
// indexes written "[]" (tenants[].introspection.url), collected by decoding
// every valid fixture (full.yaml has every section).
func schemaKeys(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("valid fixtures: %v", err)
	}
	index := regexp.MustCompile(`\[\d+\]`)
	set := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		root, err := parseYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(f)
		d := &decoder{lookupEnv: lookupTestEnv, baseDir: filepath.Dir(abs), schema: map[string][]string{}}
		d.config(root)
		for path, keys := range d.schema {
			for _, k := range keys {
				set[index.ReplaceAllString(join(path, k), "[]")] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// TestREADMEConfigurationReferenceIsComplete: the README's reference table
// lists exactly the keys the configuration accepts, so it cannot drift.
func TestREADMEConfigurationReferenceIsComplete(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Configuration reference\n")
	if !ok {
		t.Fatal(`README.md has no "### Configuration reference" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	want := schemaKeys(t)
	if len(want) < 50 {
		t.Fatalf("only %d keys found in the schema: %v", len(want), want)
	}
	for _, k := range want {
		if !slices.Contains(documented, k) {
			t.Errorf("README's configuration reference lacks `%s`", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(want, k) {
			t.Errorf("README's configuration reference documents `%s`, which the configuration does not accept", k)
		}
	}
}
