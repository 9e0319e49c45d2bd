package config

import (
	"gopkg.in/yaml.v3"

	"github.com/tokengate/tokengate/httpsyntax"
)

// namedEntries decodes every entry of the list n (a sequence) at key with
// entry, in order, and reports a name (see name) that an earlier entry
// already has; what names the kind of entry in that error.
func namedEntries[T any](d *decoder, n *yaml.Node, key, what string, entry func(n *yaml.Node, path string) T, name func(T) string) []T {
	var out []T
	names := map[string]int{}
	for i, e := range n.Content {
		path := index(key, i)
		d.at(path, e.Line, e.Column)
		v := entry(e, path)
		if nm := name(v); nm != "" {
			if first, dup := names[nm]; dup {
				d.errorf(join(path, "name"), "duplicate %s name %s (first at %s[%d])", what, d.q(join(path, "name"), nm), key, first)
			} else {
				names[nm] = i
			}
		}
		out = append(out, v)
	}
	return out
}

// listEntry is the object n of a list entry at path, with its keys; null is
// an error (and the object invalid).
func (d *decoder) listEntry(n *yaml.Node, path string, keys ...string) *object {
	o := d.object(n, path, keys...)
	if isNull(d.resolve(n)) {
		d.errorf(path, "must be a mapping, not null")
		o.invalid = true
	}
	return o
}

// name decodes o's required name, whose every byte must be ok (pattern
// says which in the error).
func (d *decoder) name(o *object, ok func(c byte) bool, pattern string) string {
	name, st := d.str(o, "name")
	switch {
	case st == absent:
		d.required(o, "name")
	case st == set && !httpsyntax.OneOrMore(name, ok):
		p := join(o.path, "name")
		d.errorf(p, "%s must match %s", d.q(p, name), pattern)
	}
	return name
}
