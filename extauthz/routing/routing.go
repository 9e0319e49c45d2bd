// Package routing finds the route a checked request belongs to: by the name
// Envoy passes in a context extension, or by the first rule whose host, path
// prefix and method all match.
package routing

import (
	"net"
	"strings"

	"github.com/tokengate/tokengate/httpsyntax"
)

// Rule is the matching part of one configured route.
type Rule struct {
	Name       string
	Hosts      []string // exact names or "*.suffix" wildcards; empty: any (ASCII letters are lowered by NewTable)
	PathPrefix string   // "" means "/"
	Methods    []string // empty: any (ASCII letters are raised by NewTable)
}

// Table matches requests against rules in order. It is immutable once built
// and safe for concurrent use.
type Table struct {
	rules  []Rule
	byName map[string]int
	index  index
}

// NewTable keeps rules in order; rule names are expected to be unique
// (config validation ensures it), the first one wins otherwise.
func NewTable(rules []Rule) *Table {
	t := &Table{rules: make([]Rule, len(rules)), byName: make(map[string]int, len(rules))}
	for i, r := range rules {
		if r.PathPrefix == "" {
			r.PathPrefix = "/"
		}
		r.Hosts = mapStrings(r.Hosts, httpsyntax.ToLower)
		r.Methods = mapStrings(r.Methods, httpsyntax.ToUpper)
		t.rules[i] = r
		if _, dup := t.byName[r.Name]; !dup {
			t.byName[r.Name] = i
		}
	}
	t.index = newIndex(t.rules)
	return t
}

// Lookup returns the index of the rule with that name.
func (t *Table) Lookup(name string) (int, bool) {
	i, ok := t.byName[name]
	return i, ok
}

// mapStrings returns f applied to each of list, in a new slice (the
// caller's stays as it was).
func mapStrings(list []string, f func(string) string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = f(s)
	}
	return out
}

// Match returns the index of the first rule matching the request, in the
// order given to NewTable (found through an index, without trying every
// rule). host is as received (a port is removed, ASCII case is ignored);
// path must already be normalized by NormalizePath; method is compared
// with its ASCII letters in uppercase. No Unicode case mapping is applied to either: a host or
// method with non-ASCII bytes matches only a pattern with the same bytes.
func (t *Table) Match(host, path, method string) (int, bool) {
	i := t.index.match(NormalizeHost(host), path, httpsyntax.ToUpper(method))
	if i < 0 {
		return 0, false
	}
	return i, true
}

// NormalizeHost lowercases the ASCII letters of a host (and nothing else:
// U+212A KELVIN SIGN stays, it does not become "k") and removes its port
// and one trailing dot ("Orders.Example.:8443" → "orders.example").
// Bracketed IPv6 literals keep their brackets.
func NormalizeHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if strings.Count(h, ":") == 1 {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	h = strings.TrimSuffix(h, ".")
	return httpsyntax.ToLower(h)
}

func matchMethod(methods []string, method string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	return false
}
