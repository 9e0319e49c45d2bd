package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tokengate/tokengate/httpsyntax"
)

// Load reads the configuration file at path, expands ${NAME} with
// os.LookupEnv and validates it. Relative file paths inside it are taken
// relative to the directory of the configuration file. The returned *Config
// must not be modified (see Config).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return Parse(data, os.LookupEnv, dir)
}

// Parse is Load without reading the configuration file itself: data is its
// content, lookupEnv resolves ${NAME} (nil: every variable is unset), and
// relative paths (client_secret_file, ca_file, ...) are resolved against
// baseDir, whose files are still read. On failure the error joins every
// problem found (errors.Join), one "<location>: <message>" each, and the
// *Config is nil.
func Parse(data []byte, lookupEnv func(string) (string, bool), baseDir string) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	d := &decoder{lookupEnv: lookupEnv, baseDir: baseDir}
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	// A position per key and list item, fewer than the nodes: sized once
	// instead of grown (10,000 routes record some 120,000).
	d.positions = make(map[string]position, countNodes(root, 0))
	cfg := d.config(root)
	if len(d.errs) > 0 {
		// Report in file order; errors about absent keys go last.
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].line < d.errs[j].line })
		errs := make([]error, len(d.errs))
		for i, e := range d.errs {
			errs[i] = e.err
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// parseYAML returns the root node of the single document in data, or nil
// when there is none.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, fmt.Errorf("line %d: only one YAML document is allowed", next.Line)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

// yamlError turns "yaml: line 3: did not find expected key" into
// "line 3: did not find expected key".
func yamlError(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// maxNodes bounds the nodes visited through aliases ("billion laughs").
const maxNodes = 1_000_000

type decoder struct {
	lookupEnv func(string) (string, bool)
	baseDir   string
	errs      []lineError
	positions map[string]position // path -> where its key (or item) starts
	// schema, when not nil, records the keys each mapping allows, by path
	// (for the README's reference table, checked by a test).
	schema  map[string][]string
	seenErr map[string]bool
	fromEnv map[string]bool // paths whose value came from ${...}
	nodes   int
}

// errorf records "<path>: <message>". Identical errors (from a YAML alias
// used twice, say) are recorded once.
func (d *decoder) errorf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	if d.seenErr == nil {
		d.seenErr = map[string]bool{}
	}
	if d.seenErr[msg] {
		return
	}
	d.seenErr[msg] = true
	pos := d.positionOf(path)
	if pos.line != math.MaxInt {
		// After the message, so that "<path>: <message>" stays its start.
		msg += fmt.Sprintf(" (line %d, column %d)", pos.line, pos.col)
	}
	d.errs = append(d.errs, lineError{errors.New(msg), pos.line})
}

// position is a place in the file, 1-based.
type position struct{ line, col int }

type lineError struct {
	err  error
	line int
}

// at records that the value at path starts at line and column (of its key,
// or of the item in a list).
func (d *decoder) at(path string, line, col int) {
	if d.positions == nil {
		d.positions = map[string]position{}
	}
	if _, ok := d.positions[path]; !ok && line > 0 {
		d.positions[path] = position{line, col}
	}
}

// positionOf is the position of path or of its closest recorded parent;
// line math.MaxInt when unknown (such as an absent top-level key).
func (d *decoder) positionOf(path string) position {
	for path != "" {
		if p, ok := d.positions[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return position{line: math.MaxInt}
}

// countNodes counts the nodes of the tree at n, aliases not followed (as
// a size hint); it stops at depth 1000.
func countNodes(n *yaml.Node, depth int) int {
	if n == nil || depth > 1000 {
		return 0
	}
	c := 1
	for _, k := range n.Content {
		c += countNodes(k, depth+1)
	}
	return c
}

// resolve follows aliases. It returns nil for nil.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf("document", "too large (too many nodes through aliases)")
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a scalar"
	}
}

// join appends key to path: "a.b", or a["b c"] when the key is not a
// plain word (claim names such as "https://example.com/roles", odd keys).
func join(path, key string) string {
	if !httpsyntax.OneOrMore(key, func(c byte) bool { return routeNameChar(c) && c != '.' }) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

type entry struct {
	key       string
	line, col int // of the key
	val       *yaml.Node
}

// entries lists the key/value pairs of a mapping in file order, applying
// merge keys ("<<": explicit keys win, then earlier merged mappings) and
// reporting duplicate keys.
func (d *decoder) entries(n *yaml.Node, path string, depth int) []entry {
	if depth > 20 {
		d.errorf(path, "merge keys nested too deeply")
		return nil
	}
	var out, merged []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(path, "line %d: keys must be strings, not %s", k.Line, kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeEntries(v, join(path, "<<"), depth)...)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errorf(join(path, k.Value), "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{k.Value, k.Line, k.Column, v})
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.line
			out = append(out, e)
		}
	}
	return out
}

func (d *decoder) mergeEntries(v *yaml.Node, path string, depth int) []entry {
	v = d.resolve(v)
	switch {
	case v != nil && v.Kind == yaml.MappingNode:
		return d.entries(v, path, depth+1)
	case v != nil && v.Kind == yaml.SequenceNode:
		var out []entry
		for i, m := range v.Content {
			if m = d.resolve(m); m == nil || m.Kind != yaml.MappingNode {
				d.errorf(index(path, i), "merge value must be a mapping")
				continue
			}
			out = append(out, d.entries(m, path, depth+1)...)
		}
		return out
	}
	d.errorf(path, "merge value must be a mapping or a list of mappings")
	return nil
}

// object is a YAML mapping with a fixed set of allowed keys.
type object struct {
	path    string
	values  map[string]*yaml.Node // resolved, never null
	invalid bool                  // not a mapping: an error was reported
}

// object checks that n is a mapping (or null: empty) with only the given keys.
func (d *decoder) object(n *yaml.Node, path string, keys ...string) *object {
	o := &object{path: path, values: map[string]*yaml.Node{}}
	if d.schema != nil {
		d.schema[path] = keys
	}
	n = d.resolve(n)
	if isNull(n) {
		return o
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "must be a mapping, not %s", kindName(n))
		o.invalid = true
		return o
	}
	for _, e := range d.entries(n, path, 0) {
		d.at(join(path, e.key), e.line, e.col)
		if !slices.Contains(keys, e.key) { // a few dozen keys at most: no map to build per object
			d.errorf(join(path, e.key), "unknown key%s", suggest(e.key, keys))
			continue
		}
		if v := d.resolve(e.val); !isNull(v) {
			o.values[e.key] = v
		}
	}
	return o
}

func (o *object) has(key string) bool { return o.values[key] != nil }

// required reports key as missing unless it is set or the object itself
// was already reported as invalid.
func (d *decoder) required(o *object, key string) {
	if !o.invalid && !o.has(key) {
		d.errorf(join(o.path, key), "required")
	}
}
