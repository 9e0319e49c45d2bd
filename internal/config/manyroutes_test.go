package config

import (
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/testsupport"
)

// manyRoutesYAML is testsupport.ManyRoutes with tenant tNNN's own
// authorization server (https://idp.tNNN.example) and audience, and route
// rMM's own scope.
func manyRoutesYAML(tenants, perTenant int) []byte {
	return []byte(testsupport.ManyRoutes(tenants, perTenant, func(t int) testsupport.RoutesTenant {
		idp := fmt.Sprintf("https://idp.t%03d.example", t)
		return testsupport.RoutesTenant{Issuer: idp, IntrospectionURL: idp + "/oauth2/introspect", Audience: fmt.Sprintf("api://t%03d", t)}
	}, func(r int) string { return fmt.Sprintf("r%02d.read", r) }))
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
