// Package examples_test checks the operator assets in examples/grafana and
// examples/prometheus: every PromQL expression parses, and every metric it
// reads is one tokengate exports. The exported names are not copied here:
// the test records one sample of each instrument through the product's own
// telemetry package and reads the names back from its Prometheus handler,
// and it checks that every tokengate_* instrument name declared in
// internal/telemetry's source appears there, so a new metric cannot be
// missed by the list.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	promql "github.com/prometheus/prometheus/promql/parser"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

const (
	dashboardFile = "grafana/tokengate-dashboard.json"
	alertsFile    = "prometheus/tokengate-alerts.yaml"
	telemetryDir  = "../internal/telemetry"
)

// notExported are the names the assets may read that tokengate does not
// export: `up` is Prometheus's own per-target metric.
var notExported = map[string]bool{"up": true}

// mustCover are the metrics the dashboard must show (issue 11).
var mustCover = []string{
	"tokengate_decisions_total",
	"tokengate_introspection_requests_total",
	"tokengate_introspection_duration_seconds",
	"tokengate_cache_lookups_total",
	"tokengate_circuit_breaker_state",
	"tokengate_config_reloads_total",
}

// wantAlerts are the alerts the rules file must define (issue 11).
var wantAlerts = []string{
	"TokengateDown",
	"TokengateIntrospectionErrors",
	"TokengateIntrospectionSlow",
	"TokengateCircuitBreakerOpen",
	"TokengateConfigReloadFailed",
	"TokengateUnavailableDenies",
}

// exported is what tokengate's /metrics serves: family name -> TYPE.
type exported map[string]string

// series returns the family a queried name belongs to: the family itself,
// or for a histogram one of its _bucket, _sum and _count series (a classic
// histogram has no series under its bare name).
func (e exported) series(name string) (family string, ok bool) {
	if typ, ok := e[name]; ok && typ != "histogram" && typ != "summary" {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		if typ := e[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
			return base, true
		}
	}
	return "", false
}

// exportedMetrics records one sample of every instrument through the
// product's telemetry package and reads the families back from its
// Prometheus handler (no listener is started).
func exportedMetrics(t *testing.T) exported {
	t.Helper()
	ctx := context.Background()
	tel, err := telemetry.New(ctx, telemetry.Options{Version: "assets-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	m, err := telemetry.NewMetrics(tel.Meter)
	if err != nil {
		t.Fatal(err)
	}
	// Record something in every instrument: observable ones report only
	// what their callbacks return, counters only label sets seen.
	m.Decided(ctx, telemetry.Decision{Tenant: "acme", Route: "r", Allow: true, Reason: string(decision.Allowed),
		Cache: introspection.CacheHit})
	m.Decided(ctx, telemetry.Decision{Tenant: "acme", Route: "r", Allow: true, Reason: string(decision.Shadow),
		Cache: introspection.CacheHit, Shadowed: string(decision.InsufficientScope)})
	m.JWKSObserver("acme").OnFetch(introspection.JWKSFetchSuccess)
	m.RevocationEvent("acme", "session-revoked", "revoked")
	m.Reloaded(ctx, true)
	m.Reloaded(ctx, false)
	if _, err := m.Middleware("acme")(introspectiontest.Active()).Introspect(ctx, "token"); err != nil {
		t.Fatal(err)
	}
	m.SetCacheSizer(oneTenant{})
	m.SetBreakerStates(oneTenant{})
	m.SetSharedStats(func() telemetry.SharedStats {
		return telemetry.SharedStats{Lookups: map[string]int64{"hit": 1}, Revocations: map[string]int64{"local": 1}}
	})

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	e := exported{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		// # TYPE <name> <type>
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			e[f[2]] = f[3]
		}
	}
	if len(e) == 0 {
		t.Fatalf("no metric families on /metrics:\n%s", body)
	}

	// Every tokengate_* instrument declared in the source must be among
	// them, or this exercise misses one (record it above).
	for _, name := range declaredInstruments(t) {
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(_[a-z]+)?(_total)?$`)
		found := false
		for fam := range e {
			found = found || re.MatchString(fam)
		}
		if !found {
			t.Errorf("instrument %q (declared in %s) is not on /metrics: record a sample of it in exportedMetrics", name, telemetryDir)
		}
	}
	return e
}

// oneTenant reports one tenant's cache size and breaker state to the gauges.
type oneTenant struct{}

func (oneTenant) CacheSizes(report func(string, int)) { report("acme", 1) }
func (oneTenant) BreakerStates(report func(string, introspection.BreakerState)) {
	report("acme", introspection.BreakerClosed)
}

// declaredInstruments returns the tokengate_* string literals of the
// telemetry package's non-test source: the instrument names.
func declaredInstruments(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(telemetryDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^tokengate_[a-z0-9_]+$`)
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
					seen[s] = true
				}
			}
			return true
		})
	}
	if len(seen) < len(mustCover) {
		t.Fatalf("found only %d tokengate_* names in %s: %v", len(seen), telemetryDir, seen)
	}
	names := make([]string, 0, len(seen))
	for s := range seen {
		names = append(names, s)
	}
	sort.Strings(names)
	return names
}

var promParser = promql.NewParser(promql.Options{})

// grafanaVars replaces Grafana's interval and range macros, which PromQL
// cannot parse, by durations; $tenant only appears inside label values.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "${__rate_interval}", "5m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "6h", "${__range}", "6h",
)

// checkExpr parses expr and checks the metric names it selects; it returns
// the families they belong to.
func checkExpr(t *testing.T, e exported, where, expr string) []string {
	t.Helper()
	node, err := promParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return nil
	}
	var families []string
	selectors := 0
	promql.Inspect(node, func(n promql.Node, _ []promql.Node) error {
		vs, ok := n.(*promql.VectorSelector)
		if !ok {
			return nil
		}
		selectors++
		name := vs.Name
		if name == "" { // {__name__="..."}
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		switch family, ok := e.series(name); {
		case name == "":
			t.Errorf("%s: a selector without a metric name: %s", where, vs)
		case ok:
			families = append(families, family)
		case notExported[name]:
		default:
			t.Errorf("%s: metric %q is not exported by tokengate (exported: %s)", where, name, e)
		}
		return nil
	})
	if selectors == 0 {
		t.Errorf("%s: reads no metric: %s", where, expr)
	}
	return families
}

func (e exported) String() string {
	var s []string
	for name, typ := range e {
		s = append(s, name+" ("+typ+")")
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

func TestDashboard(t *testing.T) {
	e := exportedMetrics(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current Grafana schema (>= 36)", d.SchemaVersion)
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Name {
		case "datasource":
			var q string
			if v.Type != "datasource" || json.Unmarshal(v.Query, &q) != nil || q != "prometheus" {
				t.Errorf("variable datasource: want type datasource, query prometheus; got type %q, query %s", v.Type, v.Query)
			}
		case "tenant":
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable tenant: want datasource ${datasource}, got %+v", v.Datasource)
			}
			// label_values(<selector>, <label>) is Grafana's, not PromQL:
			// check the selector.
			lv := regexp.MustCompile(`^label_values\((.+),\s*tenant\)$`).FindStringSubmatch(v.Definition)
			if lv == nil || !strings.Contains(string(v.Query), v.Definition) {
				t.Errorf("variable tenant: want label_values(tokengate_decisions_total, tenant) in definition and query, got %q, %s", v.Definition, v.Query)
				continue
			}
			checkExpr(t, e, "variable tenant", lv[1])
		}
	}
	for _, name := range []string{"datasource", "tenant"} {
		if !vars[name] {
			t.Errorf("no %q template variable", name)
		}
	}

	covered := map[string]bool{}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if other, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("%s: id missing or also used by %q", where, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s: no gridPos", where)
			}
			walk(p.Panels)
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource must be ${datasource}, got %+v", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s target %s: no expr", where, tg.RefID)
					continue
				}
				for _, f := range checkExpr(t, e, where+" target "+tg.RefID, grafanaVars.Replace(tg.Expr)) {
					covered[f] = true
				}
			}
		}
	}
	walk(d.Panels)
	for _, name := range mustCover {
		if !covered[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

func TestAlerts(t *testing.T) {
	e := exportedMetrics(t)
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	// rulefmt.Parse is what Prometheus and promtool run on a rules file:
	// unknown fields, bad durations, bad PromQL and bad templates fail.
	groups, errs := rulefmt.Parse(raw, false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if groups == nil {
		t.FailNow()
	}
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule %q: want only alerts", g.Name, r.Record)
				continue
			}
			where := "alert " + r.Alert
			names = append(names, r.Alert)
			if r.For <= 0 {
				t.Errorf("%s: no for:", where)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: labels.severity %q: want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no annotations.%s", where, a)
				}
			}
			checkExpr(t, e, where, r.Expr)
		}
	}
	for _, want := range wantAlerts {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s (have %v)", want, names)
		}
	}
}
