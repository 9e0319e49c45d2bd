package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sampleResults is a full run's results: the gRPC ratio meets its
// target, HTTP mode misses it, the L2 ratio could not be computed.
func sampleResults() results {
	var r results
	r.tp = throughputResult{clients: 32, rounds: make([]roundResult, 2), ratios: []float64{0.95},
		medianRatio: 0.95, medianRatioOK: true, medianNoopP99: ms(1.2), medianTgP99: ms(1.5), medianNoopRPS: 20000, medianTgRPS: 19000}
	r.http = throughputResult{clients: 32, medianRatio: 0.70, medianRatioOK: true, medianNoopP99: ms(2), medianTgP99: ms(3)}
	r.burst = burstResult{checks: 1000, asCalls: 1, tally: tally{allowed: 1000}, lat: latencies{sorted: []time.Duration{ms(20), ms(25)}}}
	r.inactive = inactiveResult{duration: 1500 * time.Millisecond, asCalls: 2, bound: 3, res: loadResult{lat: latencies{sorted: []time.Duration{ms(0.4)}}}}
	r.flood = floodResult{plan: floodPlan{tokens: 2000}, asPeak: 16, during: loadResult{lat: latencies{sorted: []time.Duration{ms(9)}}}}
	r.replicas = replicaResult{ran: true, withRedis: perTokenResult{tokens: 200, asCalls: 200}, noRedis: perTokenResult{tokens: 200, asCalls: 400},
		tp: throughputResult{medianRatioOK: false, medianTgP99: ms(1.7)}}
	return r
}

func sampleInfo() runInfo {
	return runInfo{when: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), goVersion: "go1.test", cpus: 2, quick: true,
		loadAvg: "1.00", evaluated: true, missed: []string{"HTTP-mode throughput ratio tokengate/noop 0.700 < 0.85 | x"}}
}

func TestResultsMarkdown(t *testing.T) {
	rows := resultRows(sampleResults())
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6 (every scenario): %+v", len(rows), rows)
	}
	var b bytes.Buffer
	writeMarkdown(&b, rows, sampleInfo())
	md := b.String()
	var table []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") {
			table = append(table, line)
		}
	}
	if len(table) != 2+len(rows) {
		t.Fatalf("%d table lines, want header, separator and %d rows:\n%s", len(table), len(rows), md)
	}
	for i, line := range table {
		// Escaped pipes are not cell boundaries.
		if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 7 {
			t.Errorf("table line %d has %d unescaped pipes, want 7 (6 cells): %s", i, n, line)
		}
	}
	for _, want := range []string{
		"| gRPC, cached token | 0.95 | >= 0.95 | 1.500ms | 1.200ms |",
		"| HTTP mode, cached token | 0.70 | >= 0.85 | 3.000ms | 2.000ms |",
		"| cold burst, one new token |  |  | 25.000ms |  | 1 AS call(s) for 1000 concurrent checks",
		"| 2 replicas + Redis, cached token | n/a | >= 0.95 | 1.700ms |  | 1.00 AS calls per distinct token",
		"--quick", "[latest.svg](latest.svg)", "Targets missed:", `0.700 < 0.85 \| x`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	skipped := results{replicas: replicaResult{skipped: "redis-server not found"}}
	b.Reset()
	info := sampleInfo()
	info.evaluated, info.missed = false, nil
	writeMarkdown(&b, resultRows(skipped), info)
	if s := b.String(); !strings.Contains(s, "| 2 replicas + Redis |  |  |  |  | skipped: redis-server not found |") || !strings.Contains(s, "not evaluated") {
		t.Errorf("Markdown of a skipped scenario:\n%s", s)
	}
}

// svgNode is any element of the chart, read back generically.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n svgNode) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

func TestResultsSVG(t *testing.T) {
	rows := resultRows(sampleResults())
	var b bytes.Buffer
	if err := writeSVG(&b, rows, sampleInfo()); err != nil {
		t.Fatal(err)
	}
	var doc svgNode
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("the chart is not well-formed XML: %v\n%s", err, b.String())
	}
	if doc.XMLName.Local != "svg" || doc.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", doc.XMLName)
	}
	width, height := doc.num(t, "width"), doc.num(t, "height")
	if width != chartWidth || doc.attr("viewBox") != "0 0 760 "+doc.attr("height") {
		t.Errorf("width %v, viewBox %q", width, doc.attr("viewBox"))
	}
	var texts []string
	bars := map[string]svgNode{} // by title
	for _, n := range doc.Nodes {
		switch n.XMLName.Local {
		case "text":
			texts = append(texts, n.Text)
		case "rect":
			var title string
			for _, c := range n.Nodes {
				if c.XMLName.Local == "title" {
					title = c.Text
				}
			}
			bars[title] = n
		case "line":
		default:
			t.Errorf("unexpected element <%s>", n.XMLName.Local)
		}
		for _, coord := range []string{"y", "y1", "y2"} {
			if v := n.attr(coord); v != "" {
				if y := n.num(t, coord); y < 0 || y > height {
					t.Errorf("<%s> %s=%v outside the chart's height %v", n.XMLName.Local, coord, y, height)
				}
			}
		}
		if v := n.attr("x"); v != "" && n.XMLName.Local == "rect" {
			if x, w := n.num(t, "x"), n.num(t, "width"); x+w > width {
				t.Errorf("bar %q ends at %v, past the chart's width %v", n.Text, x+w, width)
			}
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"gRPC, cached token", "HTTP mode, cached token", "2 replicas + Redis, cached token",
		"cold burst, one new token", "0.95", "0.70", "n/a", "25.000", "1.200", "--quick"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart's texts lack %q:\n%s", want, all)
		}
	}
	// Ratio bars: to scale, red below target.
	grpc, httpBar := bars["gRPC, cached token: 0.950"], bars["HTTP mode, cached token: 0.700"]
	if grpc.attr("fill") != colourOK || httpBar.attr("fill") != colourMiss {
		t.Errorf("ratio bar colours: gRPC %q (want %s), HTTP %q (want %s, below target)", grpc.attr("fill"), colourOK, httpBar.attr("fill"), colourMiss)
	}
	if g, h := grpc.num(t, "width"), httpBar.num(t, "width"); g/h < 0.95/0.70-0.01 || g/h > 0.95/0.70+0.01 {
		t.Errorf("ratio bars %v and %v are not to scale (want ratio %.3f)", g, h, 0.95/0.70)
	}
	// Latency bars: the longest p99 (cold burst, 25 ms) is the longest bar.
	burst := bars["cold burst, one new token: tokengate p99 25.000ms"]
	for title, n := range bars {
		if strings.Contains(title, "p99") && n.num(t, "width") > burst.num(t, "width") {
			t.Errorf("bar %q is longer than the longest p99's", title)
		}
	}
	if _, ok := bars["gRPC, cached token: no-op p99 1.200ms"]; !ok {
		t.Errorf("no no-op p99 bar for gRPC; bars: %v", keys(bars))
	}
}

func keys(m map[string]svgNode) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestWriteResults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	paths, err := writeResults(dir, resultRows(sampleResults()), sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || filepath.Base(paths[0]) != "latest.md" || filepath.Base(paths[1]) != "latest.svg" {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", p, len(b), err)
		}
	}
	// An empty run still makes a valid chart.
	var b bytes.Buffer
	if err := writeSVG(&b, nil, sampleInfo()); err != nil {
		t.Fatal(err)
	}
	var doc svgNode
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil || !strings.Contains(b.String(), "no scenario measured") {
		t.Errorf("empty chart: %v\n%s", err, b.String())
	}
}
