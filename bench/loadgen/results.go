package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The results files: what `make bench` leaves in bench/results/ besides
// its console report, a Markdown table (latest.md) and a chart of it
// (latest.svg, chart.go), one row per scenario.

// defaultResultsDir is where results go unless --results says otherwise:
// bench/results of the repository, `make bench` running at its root.
const defaultResultsDir = "bench/results"

// resultRow is one scenario in the results files.
type resultRow struct {
	scenario string
	// ratio is tokengate's throughput over the no-op server's, for the
	// scenarios that compare them (ratioOK false: not computable or not
	// such a scenario); target is its target, 0 when there is none.
	ratio   float64
	ratioOK bool
	hasTP   bool // a throughput comparison (ratio shown, even as n/a)
	target  float64
	p99     time.Duration // tokengate's p99 latency; 0: not measured
	noopP99 time.Duration // the no-op server's, 0: no such comparison
	notes   string
}

// runInfo is what the results files say about the run.
type runInfo struct {
	when      time.Time
	goVersion string
	cpus      int
	quick     bool
	loadAvg   string
	only      string // --only, "" for the full run
	evaluated bool   // the targets were checked (full run)
	missed    []string
}

// throughputRow is a row for a throughput comparison.
func throughputRow(name string, tp throughputResult, target float64, notes string) resultRow {
	return resultRow{scenario: name, ratio: tp.medianRatio, ratioOK: tp.medianRatioOK, hasTP: true, target: target,
		p99: tp.medianTgP99, noopP99: tp.medianNoopP99, notes: notes}
}

// resultRows is r as one row per scenario that ran.
func resultRows(r results) []resultRow {
	var rows []resultRow
	if len(r.tp.rounds) > 0 {
		rows = append(rows, throughputRow("gRPC, cached token", r.tp, minRatio,
			fmt.Sprintf("median of %d rounds, %d clients; median RPS noop %.0f, tokengate %.0f", len(r.tp.ratios), r.tp.clients,
				r.tp.medianNoopRPS, r.tp.medianTgRPS)))
	}
	if r.http.clients > 0 {
		rows = append(rows, throughputRow("HTTP mode, cached token", r.http, minHTTPRatio,
			fmt.Sprintf("median RPS noop %.0f, tokengate %.0f", r.http.medianNoopRPS, r.http.medianTgRPS)))
	}
	if r.burst.checks > 0 {
		rows = append(rows, resultRow{scenario: "cold burst, one new token", p99: r.burst.lat.percentile(99),
			notes: fmt.Sprintf("%d AS call(s) for %d concurrent checks (target 1); %d allowed", r.burst.asCalls, r.burst.checks, r.burst.tally.allowed)})
	}
	if r.inactive.duration > 0 {
		rows = append(rows, resultRow{scenario: "repeated inactive token", p99: r.inactive.res.lat.percentile(99),
			notes: fmt.Sprintf("%d AS call(s) in %v (target <= %d)", r.inactive.asCalls, r.inactive.duration, r.inactive.bound)})
	}
	if f := r.flood; f.plan.tokens > 0 {
		rows = append(rows, resultRow{scenario: "cached token during a flood", p99: f.during.lat.percentile(99),
			notes: fmt.Sprintf("%d distinct inactive tokens; p99 without the flood %s; AS peak concurrency %d (target <= %d)",
				f.plan.tokens, formatDuration(f.baseline.lat.percentile(99)), f.asPeak, maxConcurrentLimit)})
	}
	if rp := r.replicas; rp.ran {
		rows = append(rows, throughputRow("2 replicas + Redis, cached token", rp.tp, minRatio,
			fmt.Sprintf("%.2f AS calls per distinct token (target ≈ 1.0; without Redis %.2f)", rp.withRedis.perToken(), rp.noRedis.perToken())))
	} else if rp.skipped != "" {
		rows = append(rows, resultRow{scenario: "2 replicas + Redis", notes: "skipped: " + rp.skipped})
	}
	return rows
}

// writeResults writes latest.md and latest.svg into dir (made when
// missing) and returns their paths.
func writeResults(dir string, rows []resultRow, info runInfo) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	var md, svg bytes.Buffer
	writeMarkdown(&md, rows, info)
	if err := writeSVG(&svg, rows, info); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name string
		b    []byte
	}{{"latest.md", md.Bytes()}, {"latest.svg", svg.Bytes()}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.b, 0o644); err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// newRunInfo is the run's description for the results files.
func newRunInfo(o options) runInfo {
	return runInfo{when: time.Now().UTC(), goVersion: runtime.Version(), cpus: runtime.NumCPU(), quick: o.quick,
		loadAvg: loadAverage(), only: o.only}
}

// writeMarkdown writes the results as a Markdown document with one table.
func writeMarkdown(w io.Writer, rows []resultRow, info runInfo) {
	fmt.Fprintf(w, "# tokengate load generator results\n\n")
	fmt.Fprintf(w, "%s, %s, %d CPUs, 1-minute load average at the end %s", info.when.Format(time.RFC3339), info.goVersion, info.cpus, info.loadAvg)
	if info.quick {
		fmt.Fprintf(w, ", --quick (short phases: a smoke test, not a measurement)")
	}
	if info.only != "" {
		fmt.Fprintf(w, ", --only %s", info.only)
	}
	fmt.Fprintf(w, ". Written by `go run ./bench/loadgen` (`make bench`); chart: [latest.svg](latest.svg).\n\n")
	fmt.Fprintf(w, "| Scenario | Throughput ratio vs no-op | Target | p99 tokengate | p99 no-op | Notes |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		ratio, target, p99, noop := "", "", "", ""
		if r.hasTP {
			ratio = ratioText(r.ratio, r.ratioOK)
		}
		if r.target > 0 {
			target = fmt.Sprintf(">= %.2f", r.target)
		}
		if r.p99 > 0 {
			p99 = formatDuration(r.p99)
		}
		if r.noopP99 > 0 {
			noop = formatDuration(r.noopP99)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", mdCell(r.scenario), ratio, target, p99, noop, mdCell(r.notes))
	}
	fmt.Fprintln(w)
	switch {
	case !info.evaluated:
		fmt.Fprintf(w, "Targets: not evaluated (--only run).\n")
	case len(info.missed) == 0:
		fmt.Fprintf(w, "Targets: all met.\n")
	default:
		fmt.Fprintf(w, "Targets missed:\n\n")
		for _, m := range info.missed {
			fmt.Fprintf(w, "- %s\n", mdCell(m))
		}
	}
}

// mdCell makes s safe in a table cell: no pipe or line break ends it.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
