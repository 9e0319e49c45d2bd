package routing

import (
	"fmt"
	"testing"
)

// benchRules is n routes laid out like a many-tenant configuration: 100
// routes per tenant (fewer when n < 100), each tenant with its own host and
// a wildcard for its subdomains, each route its own path prefix.
func benchRules(n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		tenant := i / 100
		rules[i] = Rule{
			Name:       fmt.Sprintf("t%d-r%d", tenant, i%100),
			Hosts:      []string{fmt.Sprintf("t%d.example.com", tenant), fmt.Sprintf("*.t%d.example.com", tenant)},
			PathPrefix: fmt.Sprintf("/api/r%d/", i%100),
			Methods:    []string{"GET", "POST"},
		}
	}
	return rules
}

// BenchmarkMatch matches against 10, 1,000 and 10,000 routes: the
// matching route first, the matching route last, and no route at all (the
// host of the last route, a path none of its routes has).
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		rules := benchRules(n)
		t := NewTable(rules)
		last := n - 1
		for _, c := range []struct {
			name, host, path string
			want             int
		}{
			{"first", "t0.example.com", "/api/r0/items/1", 0},
			{"last", fmt.Sprintf("t%d.example.com", last/100), fmt.Sprintf("/api/r%d/items/1", last%100), last},
			{"miss", fmt.Sprintf("t%d.example.com", last/100), "/other/items/1", -1},
		} {
			b.Run(fmt.Sprintf("routes=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					i, ok := t.Match(c.host, c.path, "GET")
					if !ok {
						i = -1
					}
					if i != c.want {
						b.Fatalf("Match = %d, want %d", i, c.want)
					}
				}
			})
		}
	}
}

// BenchmarkNewTable builds the table of 10,000 routes, as every config
// load and reload does.
func BenchmarkNewTable(b *testing.B) {
	rules := benchRules(10000)
	b.ReportAllocs()
	for b.Loop() {
		NewTable(rules)
	}
}
