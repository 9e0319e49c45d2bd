package config

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// state says whether a key was given and decoded.
type state int

const (
	absent  state = iota // not given, or null
	set                  // given and decoded
	invalid              // given but wrong: an error was reported
)

// expand replaces ${NAME} in s. It reports unset variables and malformed
// references at path without ever including a value, and says whether any
// reference was expanded.
func (d *decoder) expand(s, path string) (out string, expanded, ok bool) {
	if !strings.Contains(s, "${") {
		return s, false, true
	}
	ok = true
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 || !validEnvName(s[i+2:i+2+end]) {
			d.errorf(path, "invalid environment variable reference: want ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]* (write $${ for a literal ${)")
			return "", true, false
		}
		name := s[i+2 : i+2+end]
		val, found := d.lookupEnv(name)
		if !found {
			d.errorf(path, "environment variable %s is not set", name)
			ok = false
		}
		b.WriteString(val)
		expanded = true
		i += end + 3
	}
	return b.String(), expanded, ok
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// scalarValue returns the expanded value of the scalar n (resolved, not null).
func (d *decoder) scalarValue(n *yaml.Node, path, what string) (string, state) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(path, "must be %s, not %s", what, kindName(n))
		return "", invalid
	}
	v, expanded, ok := d.expand(n.Value, path)
	if expanded {
		if d.fromEnv == nil {
			d.fromEnv = map[string]bool{}
		}
		d.fromEnv[path] = true
	}
	if !ok {
		return "", invalid
	}
	return v, set
}

// plainOr reports whether n may be read as a value of YAML type tag: an
// unquoted scalar without tag (resolved after expansion) or one tagged tag.
func plainOr(n *yaml.Node, tag string) bool {
	if n.Style&yaml.TaggedStyle != 0 {
		return n.ShortTag() == tag
	}
	return n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// q quotes the value v read at path for an error message, unless it came
// from the environment, which might hold a secret.
func (d *decoder) q(path, v string) string {
	if d.fromEnv[path] {
		return "(value from the environment)"
	}
	return strconv.Quote(v)
}

func (d *decoder) str(o *object, key string) (string, state) {
	n := o.values[key]
	if n == nil {
		return "", absent
	}
	v, st := d.scalarValue(n, join(o.path, key), "a string")
	return v, st
}

// scalarType is how typed reads one type of scalar.
type scalarType[T any] struct {
	// kind names the type in "must be <kind>, not a mapping".
	kind string
	// desc names it in "not <desc>: value" and "must be <desc>, not a
	// string".
	desc string
	// tags are the YAML tags a value may be written with (see plainOr);
	// none: a quoted value is fine too.
	tags []string
	// parse reads the expanded value; false: it is not one.
	parse func(string) (T, bool)
}

var (
	boolType = scalarType[bool]{kind: "a boolean", desc: "a boolean (true or false)", tags: []string{"!!bool"},
		parse: func(v string) (bool, bool) {
			switch v {
			case "true", "True", "TRUE":
				return true, true
			case "false", "False", "FALSE":
				return false, true
			}
			return false, false
		}}
	intType = scalarType[int]{kind: "an integer", desc: "an integer", tags: []string{"!!int"},
		parse: func(v string) (int, bool) {
			i, err := strconv.ParseInt(v, 10, 0)
			return int(i), err == nil
		}}
	durationType = scalarType[time.Duration]{kind: "a duration", desc: "a duration",
		parse: func(v string) (time.Duration, bool) {
			dur, err := time.ParseDuration(v)
			return dur, err == nil
		}}
)

// typed decodes o's key as a scalar of type t.
func typed[T any](d *decoder, o *object, key string, t scalarType[T]) (T, state) {
	var zero T
	n := o.values[key]
	if n == nil {
		return zero, absent
	}
	path := join(o.path, key)
	v, st := d.scalarValue(n, path, t.kind)
	if st != set {
		return zero, st
	}
	if len(t.tags) > 0 && !slices.ContainsFunc(t.tags, func(tag string) bool { return plainOr(n, tag) }) {
		d.errorf(path, "must be %s, not a string", t.desc)
		return zero, invalid
	}
	x, ok := t.parse(v)
	if !ok {
		d.errorf(path, "not %s: %s", t.desc, d.q(path, v))
		return zero, invalid
	}
	return x, set
}

func (d *decoder) boolean(o *object, key string) (bool, state) { return typed(d, o, key, boolType) }

func (d *decoder) integer(o *object, key string) (int, state) { return typed(d, o, key, intType) }

// duration decodes a Go duration; negative ones are errors.
func (d *decoder) duration(o *object, key string) (time.Duration, state) {
	dur, st := typed(d, o, key, durationType)
	if st == set && dur < 0 {
		d.errorf(join(o.path, key), "must not be negative")
		return 0, invalid
	}
	return dur, st
}

// collection returns o's key, a node of kind (what names it in the error),
// and its path.
func (d *decoder) collection(o *object, key string, kind yaml.Kind, what string) (*yaml.Node, string, state) {
	n := o.values[key]
	if n == nil {
		return nil, "", absent
	}
	path := join(o.path, key)
	if n.Kind != kind {
		d.errorf(path, "must be %s, not %s", what, kindName(n))
		return nil, path, invalid
	}
	return n, path, set
}

// element decodes e (resolved), a string of a list or mapping at p.
func (d *decoder) element(e *yaml.Node, p string) (string, bool) {
	if isNull(e) {
		d.errorf(p, "must be a string, not null")
		return "", false
	}
	v, st := d.scalarValue(e, p, "a string")
	return v, st == set
}

// strList decodes a list of strings. An explicit empty list is set (not nil).
func (d *decoder) strList(o *object, key string) ([]string, state) {
	n, path, st := d.collection(o, key, yaml.SequenceNode, "a list")
	if st != set {
		return nil, st
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		p := index(path, i)
		e = d.resolve(e)
		if e != nil {
			d.at(p, e.Line, e.Column)
		}
		if v, ok := d.element(e, p); ok {
			out = append(out, v)
		} else {
			st = invalid
		}
	}
	return out, st
}

// pair is one entry of a string-to-string mapping.
type pair struct {
	key, value, path string
}

// pairs decodes a mapping of strings to strings in file order.
func (d *decoder) pairs(o *object, key string) ([]pair, state) {
	n, path, st := d.collection(o, key, yaml.MappingNode, "a mapping")
	if st != set {
		return nil, st
	}
	var out []pair
	for _, e := range d.entries(n, path, 0) {
		p := join(path, e.key)
		d.at(p, e.line, e.col)
		if v, ok := d.element(d.resolve(e.val), p); ok {
			out = append(out, pair{e.key, v, p})
		} else {
			st = invalid
		}
	}
	return out, st
}

// enum checks v against the allowed values.
func (d *decoder) enum(path, v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	d.errorf(path, "must be one of %s, not %s", strings.Join(allowed, ", "), d.q(path, v))
	return false
}

// intMin applies def when absent and checks the lower bound otherwise.
func (d *decoder) intMin(o *object, key string, def, minimum int) int {
	v, st := d.integer(o, key)
	switch st {
	case absent:
		return def
	case set:
		if v < minimum {
			d.errorf(join(o.path, key), "must be at least %d", minimum)
		}
		return v
	}
	return def
}

// durationDefault applies def when absent; positive requires > 0.
func (d *decoder) durationDefault(o *object, key string, def time.Duration, positive bool) time.Duration {
	v, st := d.duration(o, key)
	switch st {
	case absent:
		return def
	case set:
		if positive && v == 0 {
			d.errorf(join(o.path, key), "must be greater than 0")
		}
		return v
	}
	return def
}
