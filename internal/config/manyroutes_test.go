package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/routing"
)

// manyRoutesYAML is a configuration of tenants tenants with perTenant
// routes each: tenant tNNN has host tNNN.example.com and its subdomains,
// its routes the path prefixes /api/rNN/.
func manyRoutesYAML(tenants, perTenant int) []byte {
	var b strings.Builder
	b.WriteString("tenants:\n")
	for t := range tenants {
		fmt.Fprintf(&b, `  - name: t%03d
    issuer: "https://idp.t%03d.example"
    introspection:
      url: "https://idp.t%03d.example/oauth2/introspect"
      client_id: "rs-t%03d"
      client_secret: "secret"
    audiences: ["api://t%03d"]
    claims_to_headers:
      sub: x-auth-subject
      scope: x-auth-scope
`, t, t, t, t, t)
	}
	b.WriteString("routes:\n")
	for t := range tenants {
		for r := range perTenant {
			fmt.Fprintf(&b, `  - name: t%03d-r%02d
    tenant: t%03d
    hosts: ["t%03d.example.com", "*.t%03d.example.com"]
    path_prefix: "/api/r%02d/"
    methods: ["GET", "POST"]
    scopes: ["r%02d.read"]
`, t, r, t, t, t, r, r)
		}
	}
	return []byte(b.String())
}

// parseAndIndex is what loading a configuration costs before tenants are
// built: parsing and validating it, and indexing its routes.
func parseAndIndex(tb testing.TB, data []byte, dir string) (*Config, *routing.Table) {
	cfg, err := Parse(data, nil, dir)
	if err != nil {
		tb.Fatal(err)
	}
	rules := make([]routing.Rule, len(cfg.Routes))
	for i, r := range cfg.Routes {
		rules[i] = routing.Rule{Name: r.Name, Hosts: r.Hosts, PathPrefix: r.PathPrefix, Methods: r.Methods}
	}
	return cfg, routing.NewTable(rules)
}

// TestManyRoutes: the benchmark's configuration is valid and its routes
// match (smaller here: the 10,000 routes take seconds under -race).
func TestManyRoutes(t *testing.T) {
	cfg, table := parseAndIndex(t, manyRoutesYAML(10, 20), t.TempDir())
	if len(cfg.Tenants) != 10 || len(cfg.Routes) != 200 {
		t.Fatalf("%d tenants, %d routes", len(cfg.Tenants), len(cfg.Routes))
	}
	if i, ok := table.Match("x.t009.example.com", "/api/r19/items", "POST"); !ok || cfg.Routes[i].Name != "t009-r19" {
		t.Fatalf("Match = %d, %v", i, ok)
	}
}

// BenchmarkParseManyRoutes loads 10,000 routes of 100 tenants (about
// 1.7 MB of YAML): Parse and the routing table. It should stay well under
// a second. cpu-ns/op is the process's CPU time per load (GC included; on
// Unix), which a busy machine does not inflate as it does ns/op.
func BenchmarkParseManyRoutes(b *testing.B) {
	data, dir := manyRoutesYAML(100, 100), b.TempDir()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0, measured := processCPU()
	n := 0
	for b.Loop() {
		parseAndIndex(b, data, dir)
		n++
	}
	if cpu1, _ := processCPU(); measured {
		b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
	}
}
