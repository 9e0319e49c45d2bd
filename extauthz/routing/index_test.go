package routing

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/httpsyntax"
)

// linearMatch is the reference the index must agree with: the first rule,
// in config order, whose path prefix, host and method match (Table.Match
// before the index). It reads the rules as NewTable normalized them.
func linearMatch(t *Table, host, path, method string) (int, bool) {
	host = NormalizeHost(host)
	method = httpsyntax.ToUpper(method)
	for i := range t.rules {
		r := &t.rules[i]
		if strings.HasPrefix(path, r.PathPrefix) && linearHost(r.Hosts, host) && matchMethod(r.Methods, method) {
			return i, true
		}
	}
	return 0, false
}

func linearHost(patterns []string, host string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if suffix, wild := strings.CutPrefix(p, "*"); wild {
			// "*.example.com": one or more labels before the suffix, never the bare domain
			if label, ok := strings.CutSuffix(host, suffix); ok && label != "" && !strings.HasSuffix(label, ".") {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// sameAsLinear fails t when the table's answer differs from linearMatch's.
func sameAsLinear(t testing.TB, tt *Table, host, path, method string) {
	t.Helper()
	gi, gok := tt.Match(host, path, method)
	wi, wok := linearMatch(tt, host, path, method)
	if gi != wi || gok != wok {
		var rules strings.Builder
		for i, r := range tt.rules {
			fmt.Fprintf(&rules, "\n  %d: hosts=%q prefix=%q methods=%q", i, r.Hosts, r.PathPrefix, r.Methods)
		}
		t.Fatalf("Match(%q, %q, %q) = %d, %v; the linear scan says %d, %v; rules:%s", host, path, method, gi, gok, wi, wok, rules.String())
	}
}

var (
	randLabels  = []string{"a", "b", "api", "A", "Api", "x-1", "\u212Aiosk", "caf\u00e9"}
	randDomains = []string{"example.com", "EXAMPLE.com", "acme.example", "example", "com", "127.0.0.1", "[::1]"}
	randSegs    = []string{"", "a", "ab", "api", "v1", "A", "orders", "x"}
	randMethods = []string{"GET", "get", "Post", "PUT", "HEAD", "delete", "OPTIONS", "po\u017Ft", ""}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// randHost is a host of one to three labels under a domain, or (rarely)
// something odd.
func randHost(r *rand.Rand) string {
	switch r.IntN(20) {
	case 0:
		return pick(r, randDomains)
	case 1:
		return pick(r, []string{"", ".", ".example.com", "a..example.com", "..example.com", "a.example.com.."})
	}
	var b strings.Builder
	for range 1 + r.IntN(3) {
		b.WriteString(pick(r, randLabels))
		b.WriteByte('.')
	}
	b.WriteString(pick(r, randDomains))
	return b.String()
}

// randPattern is a route host: exact, "*.suffix", or an odd wildcard
// ("*", "*example.com") that config validation refuses but Table accepts.
func randPattern(r *rand.Rand) string {
	h := randHost(r)
	switch r.IntN(8) {
	case 0, 1, 2:
		// "*" + the host from one of its dots: "*.example.com"
		if i := strings.IndexByte(h, '.'); i >= 0 {
			return "*" + h[i:]
		}
		return "*." + h
	case 3:
		if r.IntN(4) == 0 {
			return "*"
		}
		return "*" + h[r.IntN(len(h)+1):]
	case 4:
		return h + ":8443"
	}
	return h
}

// randPath is a path of up to four segments, with a trailing slash or
// not; as a prefix it may be "" or end inside a segment.
func randPath(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(5) {
		b.WriteByte('/')
		b.WriteString(pick(r, randSegs))
	}
	if b.Len() == 0 || r.IntN(4) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

func randPrefix(r *rand.Rand) string {
	switch r.IntN(10) {
	case 0:
		return ""
	case 1:
		return "/"
	}
	p := randPath(r)
	if r.IntN(3) == 0 && len(p) > 1 {
		p = p[:1+r.IntN(len(p)-1)] // a plain string prefix, not a segment
	}
	return p
}

func randTable(r *rand.Rand) *Table {
	n := r.IntN(30)
	if r.IntN(10) == 0 {
		n = 100 + r.IntN(200)
	}
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = Rule{Name: fmt.Sprintf("r%d", i), PathPrefix: randPrefix(r)}
		if r.IntN(4) != 0 {
			for range 1 + r.IntN(3) {
				rules[i].Hosts = append(rules[i].Hosts, randPattern(r))
			}
		}
		if r.IntN(2) == 0 {
			for range 1 + r.IntN(3) {
				if m := pick(r, randMethods); m != "" {
					rules[i].Methods = append(rules[i].Methods, m)
				}
			}
		}
	}
	return NewTable(rules)
}

// randRequestHost is a host a request may carry: one of the table's
// patterns made concrete (so that something matches), or a random one,
// in any ASCII case, with a port or a trailing dot.
func randRequestHost(r *rand.Rand, tt *Table) string {
	var h string
	if len(tt.rules) > 0 && r.IntN(3) != 0 {
		rule := tt.rules[r.IntN(len(tt.rules))]
		if len(rule.Hosts) > 0 {
			h = rule.Hosts[r.IntN(len(rule.Hosts))]
			if rest, ok := strings.CutPrefix(h, "*"); ok {
				h = pick(r, []string{"", "a", "b.c", "x.", "."}) + rest
			}
		}
	}
	if h == "" {
		h = randHost(r)
	}
	if r.IntN(3) == 0 {
		b := []byte(h)
		for i := range b {
			if r.IntN(2) == 0 && 'a' <= b[i] && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			}
		}
		h = string(b)
	}
	switch r.IntN(8) {
	case 0:
		h += ":443"
	case 1:
		h += "."
	case 2:
		h += ".:8080"
	}
	return h
}

func randRequestPath(r *rand.Rand, tt *Table) string {
	if len(tt.rules) > 0 && r.IntN(2) == 0 {
		return tt.rules[r.IntN(len(tt.rules))].PathPrefix + pick(r, []string{"", "x", "/", "/1", "a/b"})
	}
	return randPath(r)
}

// TestIndexMatchesLinearScan: on random tables (exact and wildcard hosts
// in both cases, ports, odd wildcards, nested prefixes, "/" and "",
// methods) and random requests, the index answers what the linear scan in
// config order answers.
func TestIndexMatchesLinearScan(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 15))
	tables, requests := 2000, 50
	if testing.Short() {
		tables = 200
	}
	for range tables {
		tt := randTable(r)
		for range requests {
			sameAsLinear(t, tt, randRequestHost(r, tt), randRequestPath(r, tt), pick(r, randMethods))
		}
	}
}

// TestIndexFirstMatchWins: cases where the index's groups disagree on
// which rule comes first.
func TestIndexFirstMatchWins(t *testing.T) {
	tt := NewTable([]Rule{
		{Name: "deep-post", Hosts: []string{"a.example"}, PathPrefix: "/api/v1/", Methods: []string{"POST"}},
		{Name: "any-host-deep", PathPrefix: "/api/v1/x"},
		{Name: "wild", Hosts: []string{"*.example"}, PathPrefix: "/api"},
		{Name: "exact-short", Hosts: []string{"a.example"}, PathPrefix: "/api"},
		{Name: "odd", Hosts: []string{"*ample"}, PathPrefix: "/"},
		{Name: "root"},
		{Name: "exact-after-root", Hosts: []string{"a.example"}, PathPrefix: "/"},
	})
	cases := []matchCase{
		{"a.example", "/api/v1/x", "POST", "deep-post"},
		{"a.example", "/api/v1/x", "GET", "any-host-deep"},
		{"a.example", "/api/v1/y", "GET", "wild"},
		{"b.example", "/api/v1/y", "GET", "wild"},
		{"example", "/api", "GET", "odd"}, // not "*.example" (the bare domain), but "*ample" after the label "ex"
		{"a.example", "/apix", "GET", "wild"},
		{"a.example", "/ap", "GET", "odd"},
		{"zz", "/ap", "GET", "root"},
	}
	wantMatches(t, tt, cases)
	for _, c := range cases {
		sameAsLinear(t, tt, c.host, c.path, c.method)
	}
}

// fuzzTable is a table with every kind of rule, for FuzzMatch to compare
// with the linear scan.
var fuzzTable = NewTable([]Rule{
	{Name: "exact", Hosts: []string{"orders.acme.example"}, PathPrefix: "/orders", Methods: []string{"GET"}},
	{Name: "nested", Hosts: []string{"orders.acme.example", "*.orders.acme.example"}, PathPrefix: "/orders/admin/", Methods: []string{"POST"}},
	{Name: "wild", Hosts: []string{"*.acme.example"}, PathPrefix: "/api"},
	{Name: "port", Hosts: []string{"orders.acme.example:8443"}},
	{Name: "odd", Hosts: []string{"*cme.example"}, PathPrefix: "/odd", Methods: []string{"PUT", "DELETE"}},
	{Name: "star", Hosts: []string{"*"}, PathPrefix: "/star"},
	{Name: "tld", Hosts: []string{"*.example", "[::1]", "127.0.0.1"}, PathPrefix: "/a"},
	{Name: "any-deep", PathPrefix: "/orders/1"},
	{Name: "any-method", PathPrefix: "/m", Methods: []string{"PATCH"}},
	{Name: "unicode", Hosts: []string{"caf\u00e9.example", "*.\u212Aiosk.example"}},
	{Name: "root"},
})

// derivedTable is a table built from a fuzzed request, so that its rules
// nearly match it: the host and its wildcards, prefixes of the path, the
// method, in an order the input decides.
func derivedTable(host, path, method string) *Table {
	h := NormalizeHost(host)
	patterns := []string{h, "*" + h}
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			patterns = append(patterns, "*"+h[i:], h[i+1:])
		}
	}
	if len(h) > 1 {
		patterns = append(patterns, "*"+h[len(h)/2:])
	}
	prefixes := []string{"", "/", path}
	for _, k := range []int{1, 2, len(path) / 2, len(path) - 1} {
		if 0 <= k && k <= len(path) {
			prefixes = append(prefixes, path[:k])
		}
	}
	methods := [][]string{nil, {method}, {"GET"}, {method + "X"}}
	f := fnv.New64a()
	f.Write([]byte(host + "\x00" + path + "\x00" + method))
	r := rand.New(rand.NewPCG(f.Sum64(), 0))
	rules := make([]Rule, 8+r.IntN(24))
	for i := range rules {
		rules[i] = Rule{Name: fmt.Sprint(i), PathPrefix: pick(r, prefixes), Methods: pick(r, methods)}
		for range r.IntN(3) {
			rules[i].Hosts = append(rules[i].Hosts, pick(r, patterns))
		}
	}
	return NewTable(rules)
}
