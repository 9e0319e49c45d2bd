package envoy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokengate/tokengate/internal/config"
)

// repoRoot is the module root, seen from this package's directory (go test
// runs in the package directory).
const repoRoot = ".."

// yamlDoc is one YAML document of a file.
type yamlDoc struct {
	File  string // slash-separated, relative to the repository root
	Index int    // 0-based position among the file's non-empty documents
	Count int    // non-empty documents in the file
	Value any    // decoded: map[string]any, []any, string, int, float64, bool or nil
}

func (d yamlDoc) String() string {
	if d.Count > 1 {
		return fmt.Sprintf("%s (document %d)", d.File, d.Index+1)
	}
	return d.File
}

// decodeYAMLDocs decodes every non-empty document of data.
func decodeYAMLDocs(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
}

// readYAMLFile reads and decodes the documents of a file relative to the
// repository root.
func readYAMLFile(t *testing.T, rel string) []yamlDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := yamlDocs(rel, data)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func yamlDocs(rel string, data []byte) ([]yamlDoc, error) {
	values, err := decodeYAMLDocs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", rel, err)
	}
	docs := make([]yamlDoc, len(values))
	for i, v := range values {
		docs[i] = yamlDoc{File: rel, Index: i, Count: len(values), Value: v}
	}
	return docs, nil
}

// yamlFilesUnder lists the *.yaml and *.yml files under the given
// repository-relative directories, sorted.
func yamlFilesUnder(t *testing.T, dirs ...string) []string {
	t.Helper()
	var files []string
	for _, dir := range dirs {
		root := filepath.Join(repoRoot, dir)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
				return filepath.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(d.Name(), ".yaml") || strings.HasSuffix(d.Name(), ".yml")) {
				rel, err := filepath.Rel(repoRoot, path)
				if err != nil {
					return err
				}
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	return files
}

// dig walks decoded YAML by map keys (string) and list indices (int); nil
// when any step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil
			}
			v = l[k]
		default:
			panic(fmt.Sprintf("dig: bad path element %T", p))
		}
	}
	return v
}

func digString(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}

func digList(v any, path ...any) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

func digMap(v any, path ...any) map[string]any {
	m, _ := dig(v, path...).(map[string]any)
	return m
}

// scalar renders a decoded YAML scalar as text ("" for nil), so 9191 and
// "9191" compare equal.
func scalar(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func stringList(v any) []string {
	var out []string
	for _, e := range asList(v) {
		out = append(out, scalar(e))
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// dummyEnv resolves every ${NAME} of a tokengate configuration with a
// placeholder that passes validation (URLs for *_URL names).
func dummyEnv(name string) (string, bool) {
	if strings.HasSuffix(name, "_URL") {
		return "https://" + strings.ToLower(strings.ReplaceAll(name, "_", "-")) + ".example", true
	}
	return "placeholder-" + strings.ToLower(name), true
}

// parseTokengate parses a tokengate configuration the way `tokengate
// validate` does, with lookupEnv resolving ${NAME}; relative files are
// resolved against dir (repository-relative).
func parseTokengate(data []byte, lookupEnv func(string) (string, bool), dir string) (*config.Config, error) {
	return config.Parse(data, lookupEnv, filepath.Join(repoRoot, filepath.FromSlash(dir)))
}

// loadTokengate reads and parses a repository-relative tokengate
// configuration with dummy values for every environment variable.
func loadTokengate(t *testing.T, rel string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseTokengate(data, dummyEnv, filepath.ToSlash(filepath.Dir(rel)))
	if err != nil {
		t.Fatalf("%s does not pass tokengate's config validation:\n%v", rel, err)
	}
	return cfg
}

// envRefs lists the distinct ${NAME} references of a tokengate
// configuration text ($${ is a literal and not a reference).
func envRefs(text string) []string {
	text = strings.ReplaceAll(text, "$${", "")
	seen := map[string]bool{}
	var out []string
	for _, m := range envRefRE.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// claimHeaders lists every header a configuration may set on the upstream
// request from claims (all tenants), lowercased.
func claimHeaders(cfg *config.Config) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, tn := range cfg.Tenants {
		for _, ch := range tn.ClaimsToHeaders {
			add(strings.ToLower(ch.Header))
		}
		add(strings.ToLower(tn.ClaimsHeader))
	}
	return out
}

// forwardedFamily lists the headers tokengate reads to name the checked
// request in HTTP mode: a proxy must never pass client-sent copies of them.
func forwardedFamily(cfg *config.Config) []string {
	switch cfg.HTTP.ForwardedHeaders {
	case "", "x-forwarded":
		return []string{"x-forwarded-method", "x-forwarded-host", "x-forwarded-uri"}
	case "x-original":
		return []string{"x-original-method", "x-original-uri"}
	default:
		return nil
	}
}

// maxIntrospectionTimeout is the longest introspection timeout of any tenant.
func maxIntrospectionTimeout(cfg *config.Config) time.Duration {
	var d time.Duration
	for _, tn := range cfg.Tenants {
		d = max(d, tn.Introspection.Timeout)
	}
	return d
}

// listenPort returns the port of a tokengate listen address and whether it
// accepts connections from other hosts (not loopback-only).
func listenPort(addr string) (port string, external bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return port, true, nil
	}
	if host == "localhost" {
		return port, false, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return port, false, nil
	}
	return port, true, nil
}

// errs collects problems found in one configuration.
type errs []error

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Errorf(format, args...)) }

// requireProblem asserts that problems contains one whose text has want.
func requireProblem(t *testing.T, problems []error, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p.Error(), want) {
			return
		}
	}
	if len(problems) == 0 {
		t.Fatalf("no problem reported; want one containing %q", want)
	}
	t.Fatalf("no problem contains %q; got:\n%v", want, errors.Join(problems...))
}

// mutate replaces the first old in s with new and fails the test when old
// is not there: a mutation that no longer applies must be updated, not
// silently pass.
func mutate(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("mutation no longer applies: %q not found; update the test", old)
	}
	return strings.Replace(s, old, new, 1)
}

// cutBetween removes the text from start (included) to end (excluded),
// failing the test when either is missing.
func cutBetween(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("mutation no longer applies: %q not found; update the test", start)
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		t.Fatalf("mutation no longer applies: %q not found after %q; update the test", end, start)
	}
	return s[:i] + s[i+j:]
}
