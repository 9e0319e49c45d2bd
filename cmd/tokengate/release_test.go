package main

// The release build: .goreleaser.yaml, the Makefile and the Dockerfile
// stamp exactly the variables this package declares, and a build with
// those flags is reproducible and says what it is in `tokengate version`.

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const repoRoot = "../.."

// goreleaser is the part of a GoReleaser v2 configuration checked here.
type goreleaser struct {
	Version     int    `yaml:"version"`
	ProjectName string `yaml:"project_name"`
	Builds      []struct {
		ID           string   `yaml:"id"`
		Main         string   `yaml:"main"`
		Binary       string   `yaml:"binary"`
		Env          []string `yaml:"env"`
		Goos         []string `yaml:"goos"`
		Goarch       []string `yaml:"goarch"`
		Flags        []string `yaml:"flags"`
		Ldflags      []string `yaml:"ldflags"`
		ModTimestamp string   `yaml:"mod_timestamp"`
	} `yaml:"builds"`
	Archives []struct {
		Formats []string `yaml:"formats"`
		Files   []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
	} `yaml:"checksum"`
}

func readGoreleaser(t *testing.T) goreleaser {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var g goreleaser
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&g); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return g
}

// stampedVars are the package-level string variables of package main (its
// non-test files): what -ldflags -X main.NAME=VALUE can set.
func stampedVars(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range pkgs["main"].Files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if isString(vs, i) {
						names = append(names, name.Name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("package main declares no string variable for -ldflags -X")
	}
	return names
}

// isString reports whether the i-th name of vs is declared as a string:
// with type string, or untyped from a string literal.
func isString(vs *ast.ValueSpec, i int) bool {
	if id, ok := vs.Type.(*ast.Ident); ok {
		return id.Name == "string"
	}
	if vs.Type == nil && i < len(vs.Values) {
		lit, ok := vs.Values[i].(*ast.BasicLit)
		return ok && lit.Kind == token.STRING
	}
	return false
}

// xFlag is one -X main.NAME=VALUE; a VALUE may hold {{ template }} actions.
var xFlag = regexp.MustCompile(`-X[= ]main\.(\w+)=((?:\{\{[^}]*\}\}|[^\s{])*)`)

// xVars returns the main.NAME -> VALUE pairs that ldflags set.
func xVars(ldflags string) map[string]string {
	m := map[string]string{}
	for _, sm := range xFlag.FindAllStringSubmatch(ldflags, -1) {
		m[sm[1]] = sm[2]
	}
	return m
}

func keys(m map[string]string) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

func TestGoreleaserConfig(t *testing.T) {
	g := readGoreleaser(t)
	vars := stampedVars(t)
	if g.Version != 2 {
		t.Errorf("version: %d, want 2 (GoReleaser v2)", g.Version)
	}
	if len(g.Builds) == 0 {
		t.Fatal("no builds")
	}
	for _, b := range g.Builds {
		// The binary's main package is this one.
		if filepath.Clean(filepath.Join(repoRoot, b.Main)) != filepath.Clean(filepath.Join(repoRoot, "cmd", "tokengate")) {
			t.Errorf("build %s: main %q, want ./cmd/tokengate", b.ID, b.Main)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, b.Main, "main.go")); err != nil {
			t.Errorf("build %s: main %q: %v", b.ID, b.Main, err)
		}
		if b.Binary != "tokengate" {
			t.Errorf("build %s: binary %q, want tokengate", b.ID, b.Binary)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Errorf("build %s: env %v lacks CGO_ENABLED=0 (the binary must be static)", b.ID, b.Env)
		}
		if !slices.Contains(b.Flags, "-trimpath") {
			t.Errorf("build %s: flags %v lack -trimpath", b.ID, b.Flags)
		}
		for _, want := range []string{"linux", "darwin"} {
			if !slices.Contains(b.Goos, want) {
				t.Errorf("build %s: goos %v lacks %s", b.ID, b.Goos, want)
			}
		}
		for _, want := range []string{"amd64", "arm64"} {
			if !slices.Contains(b.Goarch, want) {
				t.Errorf("build %s: goarch %v lacks %s", b.ID, b.Goarch, want)
			}
		}
		// Reproducible: file times and the stamped date are the commit's.
		if compact(b.ModTimestamp) != "{{.CommitTimestamp}}" {
			t.Errorf("build %s: mod_timestamp %q, want {{ .CommitTimestamp }}", b.ID, b.ModTimestamp)
		}
		set := xVars(strings.Join(b.Ldflags, " "))
		if got := keys(set); !slices.Equal(got, vars) {
			t.Errorf("build %s: ldflags set main.%v, want exactly the variables main declares: %v", b.ID, got, vars)
		}
		for name, want := range map[string]string{"version": "{{.Version}}", "commit": "{{.Commit}}", "date": "{{.CommitDate}}"} {
			if v, ok := set[name]; ok && !strings.Contains(compact(v), want) {
				t.Errorf("build %s: main.%s=%s, want it from %s", b.ID, name, v, want)
			}
		}
	}
	if len(g.Archives) == 0 {
		t.Error("no archives")
	}
	for _, a := range g.Archives {
		if len(a.Formats) == 0 {
			t.Error("an archive without formats")
		}
		for _, f := range a.Files {
			if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
				t.Errorf("archive file %s: %v", f, err)
			}
		}
	}
	if g.Checksum.NameTemplate == "" {
		t.Error("no checksum file")
	}
}

func compact(s string) string { return strings.ReplaceAll(s, " ", "") }

// The Makefile (make build, make install) and the Dockerfile stamp the same
// variables as the release.
func TestMakefileAndDockerfileStampMainsVariables(t *testing.T) {
	vars := stampedVars(t)
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=(.*)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("Makefile: no LDFLAGS line")
	}
	if got := keys(xVars(string(m[1]))); !slices.Equal(got, vars) {
		t.Errorf("Makefile LDFLAGS set main.%v, want %v", got, vars)
	}
	for _, target := range []string{"build", "install"} {
		rule := regexp.MustCompile(`(?m)^` + target + `:.*\n((?:\t.*\n)+)`).FindSubmatch(makefile)
		if rule == nil || !strings.Contains(string(rule[1]), "-ldflags '$(LDFLAGS)'") || !strings.Contains(string(rule[1]), "-trimpath") {
			t.Errorf("Makefile: target %s does not build with -trimpath -ldflags '$(LDFLAGS)'", target)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build .*$`).Find(dockerfile)
	if d == nil {
		t.Fatal("Dockerfile: no RUN CGO_ENABLED=0 go build line")
	}
	set := xVars(string(d))
	if got := keys(set); !slices.Equal(got, vars) {
		t.Errorf("Dockerfile go build sets main.%v, want %v", got, vars)
	}
	for name := range set {
		arg := strings.ToUpper(name)
		if !regexp.MustCompile(`(?m)^ARG ` + arg + `=`).Match(dockerfile) {
			t.Errorf("Dockerfile: main.%s comes from no ARG %s", name, arg)
		}
		if !strings.Contains(string(makefile), "--build-arg "+arg+"=$("+arg+")") {
			t.Errorf("Makefile: make image does not pass --build-arg %s", arg)
		}
	}
}

// README tells how to install with go install, at the main package's path.
func TestReadmeGoInstall(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(gomod)
	want := "go install " + string(module[1]) + "/cmd/tokengate@latest"
	if !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md lacks %q", want)
	}
}

// A build with the release's flags (rendered as GoReleaser would) prints
// what it was stamped with, and building again elsewhere gives the same
// bytes.
func TestReleaseBuildIsStampedAndReproducible(t *testing.T) {
	g := readGoreleaser(t)
	b := g.Builds[0]
	values := map[string]string{
		"Version":         "0.1.0",
		"Commit":          "0d3bd1f2a9c4e5f60718293a4b5c6d7e8f901234",
		"CommitDate":      "2026-12-01T00:00:00Z",
		"CommitTimestamp": "1796083200",
	}
	tmpl := regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)
	var ldflags []string
	for _, l := range b.Ldflags {
		ldflags = append(ldflags, tmpl.ReplaceAllStringFunc(l, func(m string) string {
			key := tmpl.FindStringSubmatch(m)[1]
			v, ok := values[key]
			if !ok {
				t.Fatalf("ldflags use {{ .%s }}, which this test does not render", key)
			}
			return v
		}))
	}
	build := func(dir string) []byte {
		t.Helper()
		out := filepath.Join(dir, "tokengate")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := append([]string{"build"}, b.Flags...)
		args = append(args, "-ldflags", strings.Join(ldflags, " "), "-o", out, b.Main)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = repoRoot
		// GoReleaser's environment; the build must not depend on the VCS
		// state of the checkout (a vcs.modified flag differs between trees).
		cmd.Env = append(os.Environ(), append(b.Env, "GOFLAGS=-buildvcs=false")...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		version, err := exec.Command(out, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", out, err)
		}
		want := "tokengate v0.1.0 (commit 0d3bd1f2a9c4, built 2026-12-01T00:00:00Z)\n"
		if string(version) != want {
			t.Errorf("tokengate version printed %q, want %q", version, want)
		}
		return data
	}
	first := build(t.TempDir())
	second := build(t.TempDir())
	if !bytes.Equal(first, second) {
		t.Error("two builds of the same commit with the release's flags differ")
	}
}
