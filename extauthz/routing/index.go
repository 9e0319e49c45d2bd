package routing

import "strings"

// index finds the first matching rule without looking at every rule.
//
// Rules are grouped by host: one group per exact host, one per wildcard
// suffix (".example.com" for "*.example.com"), and one for the rules
// without hosts; a rule with several hosts is in several groups. Within a
// group, a radix tree over the path prefixes holds, at the node where a
// prefix ends, the rules with that prefix in config order. A request looks
// at the groups its host belongs to, walks each tree along its path (every
// node passed is a prefix of the path) and keeps the smallest rule index
// whose method matches: the rule the linear scan in config order would
// have found first.
type index struct {
	exact map[string]*pathTree // host → rules listing it
	// wild is keyed by the suffix of "*.suffix" patterns, dot included
	// (".example.com"): the host's suffixes starting at a dot that has a
	// label before it are looked up here.
	wild map[string]*pathTree
	// wildLens has bit l set when a key of wild is l bytes long (bit 63:
	// 63 or more), so that most of a host's suffixes need no lookup.
	wildLens uint64
	// odd are the wildcard patterns whose suffix does not start with a
	// dot ("*" alone, "*example.com"), which config validation refuses:
	// tried one by one, as matchWildcard says.
	odd     []oddWildcard
	anyHost *pathTree // rules without hosts
}

type oddWildcard struct {
	suffix string
	tree   *pathTree
}

// pathTree is a radix tree of path prefixes; every edge is labelled with a
// non-empty string, and the children of a node start with distinct bytes.
type pathTree struct {
	first int // the smallest rule index in the tree: the first inserted
	root  node
}

type node struct {
	label    string
	rules    []entry // rules whose prefix ends at this node, ascending index
	firsts   string  // firsts[k] is children[k].label[0]
	children []*node
}

// entry is one rule at a tree node: its index and its methods (uppercase,
// empty: any).
type entry struct {
	index   int
	methods []string
}

func newIndex(rules []Rule) index {
	x := index{exact: map[string]*pathTree{}, wild: map[string]*pathTree{}}
	for i := range rules {
		r := &rules[i]
		e := entry{index: i, methods: r.Methods}
		if len(r.Hosts) == 0 {
			x.anyHost = x.anyHost.insert(r.PathPrefix, e)
			continue
		}
		for _, h := range r.Hosts {
			suffix, wild := strings.CutPrefix(h, "*")
			switch {
			case !wild:
				x.exact[h] = x.exact[h].insert(r.PathPrefix, e)
			case strings.HasPrefix(suffix, "."):
				x.wild[suffix] = x.wild[suffix].insert(r.PathPrefix, e)
				x.wildLens |= lenBit(len(suffix))
			default:
				x.odd = x.addOdd(suffix, r.PathPrefix, e)
			}
		}
	}
	return x
}

func (x *index) addOdd(suffix, prefix string, e entry) []oddWildcard {
	for k := range x.odd {
		if x.odd[k].suffix == suffix {
			x.odd[k].tree = x.odd[k].tree.insert(prefix, e)
			return x.odd
		}
	}
	return append(x.odd, oddWildcard{suffix: suffix, tree: (*pathTree)(nil).insert(prefix, e)})
}

// match returns the smallest index of a rule matching host (normalized),
// path and method (uppercase), or -1.
func (x *index) match(host, path, method string) int {
	best := int(^uint(0) >> 1)
	if t := x.exact[host]; t != nil {
		best = t.match(path, method, best)
	}
	if len(x.wild) > 0 {
		// "*.suffix" matches when the host ends in ".suffix" with a label
		// before it: a dot at i > 0 not preceded by another dot.
		for i := 1; i < len(host); i++ {
			if host[i] == '.' && host[i-1] != '.' && x.wildLens&lenBit(len(host)-i) != 0 {
				if t := x.wild[host[i:]]; t != nil {
					best = t.match(path, method, best)
				}
			}
		}
	}
	for k := range x.odd {
		if matchWildcard(x.odd[k].suffix, host) {
			best = x.odd[k].tree.match(path, method, best)
		}
	}
	if x.anyHost != nil {
		best = x.anyHost.match(path, method, best)
	}
	if best == int(^uint(0)>>1) {
		return -1
	}
	return best
}

func lenBit(n int) uint64 { return 1 << min(n, 63) }

// matchWildcard reports whether host matches the pattern "*" + suffix: it
// ends in suffix after a non-empty label that does not end in a dot.
func matchWildcard(suffix, host string) bool {
	label, ok := strings.CutSuffix(host, suffix)
	return ok && label != "" && !strings.HasSuffix(label, ".")
}

// insert adds e under prefix; a nil tree is an empty one (the new tree is
// returned).
func (t *pathTree) insert(prefix string, e entry) *pathTree {
	if t == nil {
		t = &pathTree{first: e.index}
	}
	n := &t.root
	for {
		if prefix == "" {
			n.rules = append(n.rules, e)
			return t
		}
		k := strings.IndexByte(n.firsts, prefix[0])
		if k < 0 {
			n.firsts += prefix[:1]
			n.children = append(n.children, &node{label: prefix, rules: []entry{e}})
			return t
		}
		c := n.children[k]
		l := commonPrefix(c.label, prefix)
		if l < len(c.label) {
			// Split c: a new node for the shared part, c below it.
			mid := &node{label: c.label[:l], firsts: c.label[l : l+1], children: []*node{c}}
			c.label = c.label[l:]
			n.children[k] = mid
			c = mid
		}
		prefix = prefix[l:]
		n = c
	}
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// match returns the smallest rule index below best whose prefix is a
// prefix of path and whose methods allow method, or best.
func (t *pathTree) match(path, method string, best int) int {
	if t.first >= best {
		return best
	}
	n := &t.root
	for {
		for _, e := range n.rules {
			if e.index >= best {
				break
			}
			if matchMethod(e.methods, method) {
				best = e.index
				break
			}
		}
		if path == "" {
			return best
		}
		k := strings.IndexByte(n.firsts, path[0])
		if k < 0 {
			return best
		}
		c := n.children[k]
		if !strings.HasPrefix(path, c.label) {
			return best
		}
		path = path[len(c.label):]
		n = c
	}
}
