package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"time"
)

// The results chart (latest.svg): two horizontal bar charts, the
// throughput ratio tokengate/no-op of each throughput scenario with its
// target, and the p99 latency of each scenario (the no-op server's beside
// it where there is one). Plain SVG 1.1 written with encoding/xml.

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth  = 760.0
	labelRight  = 230.0 // labels end here, right-aligned
	barLeft     = 240.0
	barMax      = 440.0 // the longest bar
	rowHeight   = 28.0
	panelGap    = 24.0
	headerLines = 2
)

// Colours: within target, below target, no-op, guides.
const (
	colourOK    = "#2b7bb9"
	colourMiss  = "#d9534f"
	colourNoop  = "#9e9e9e"
	colourGuide = "#555555"
)

type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	Xmlns   string   `xml:"xmlns,attr"`
	Width   float64  `xml:"width,attr"`
	Height  float64  `xml:"height,attr"`
	ViewBox string   `xml:"viewBox,attr"`
	Font    string   `xml:"font-family,attr"`
	Size    int      `xml:"font-size,attr"`
	Body    []any
}

type svgRect struct {
	XMLName xml.Name `xml:"rect"`
	X       float64  `xml:"x,attr"`
	Y       float64  `xml:"y,attr"`
	W       float64  `xml:"width,attr"`
	H       float64  `xml:"height,attr"`
	Fill    string   `xml:"fill,attr"`
	Title   string   `xml:"title,omitempty"`
}

type svgText struct {
	XMLName xml.Name `xml:"text"`
	X       float64  `xml:"x,attr"`
	Y       float64  `xml:"y,attr"`
	Anchor  string   `xml:"text-anchor,attr,omitempty"`
	Weight  string   `xml:"font-weight,attr,omitempty"`
	Size    int      `xml:"font-size,attr,omitempty"`
	Fill    string   `xml:"fill,attr,omitempty"`
	Text    string   `xml:",chardata"`
}

type svgLine struct {
	XMLName xml.Name `xml:"line"`
	X1      float64  `xml:"x1,attr"`
	Y1      float64  `xml:"y1,attr"`
	X2      float64  `xml:"x2,attr"`
	Y2      float64  `xml:"y2,attr"`
	Stroke  string   `xml:"stroke,attr"`
	Dash    string   `xml:"stroke-dasharray,attr,omitempty"`
}

// chart collects the elements top to bottom; y is the next free line.
type chart struct {
	body []any
	y    float64
}

// text writes s with its baseline at y.
func (c *chart) text(x, y float64, anchor, weight string, size int, s string) {
	c.body = append(c.body, svgText{X: round1(x), Y: round1(y), Anchor: anchor, Weight: weight, Size: size, Text: s})
}

// heading writes s on the next line.
func (c *chart) heading(size int, weight, s string) {
	c.text(12, c.y, "", weight, size, s)
}

func (c *chart) bar(y, w, h float64, fill, title string) {
	c.body = append(c.body, svgRect{X: barLeft, Y: round1(y), W: round1(math.Max(w, 1)), H: h, Fill: fill, Title: title})
}

func (c *chart) line(x1, y1, x2, y2 float64, dash string) {
	c.body = append(c.body, svgLine{X1: round1(x1), Y1: round1(y1), X2: round1(x2), Y2: round1(y2), Stroke: colourGuide, Dash: dash})
}

// writeSVG draws rows as the results chart.
func writeSVG(w io.Writer, rows []resultRow, info runInfo) error {
	c := &chart{y: 24}
	c.heading(15, "bold", "tokengate vs a no-op ext_authz server, per scenario")
	c.y += 18
	sub := fmt.Sprintf("%s, %s, %d CPUs, load average %s", info.when.Format("2006-01-02 15:04 MST"), info.goVersion, info.cpus, info.loadAvg)
	if info.quick {
		sub += ", --quick (smoke test, not a measurement)"
	}
	c.heading(11, "", sub)
	c.y += panelGap

	var tp, lat []resultRow
	for _, r := range rows {
		if r.hasTP {
			tp = append(tp, r)
		}
		if r.p99 > 0 {
			lat = append(lat, r)
		}
	}
	if len(tp) > 0 {
		c.ratioPanel(tp)
		c.y += panelGap
	}
	if len(lat) > 0 {
		c.latencyPanel(lat)
	}
	if len(tp) == 0 && len(lat) == 0 {
		c.heading(12, "", "no scenario measured")
	}
	h := math.Ceil(c.y + 12)
	doc := svgDoc{Xmlns: "http://www.w3.org/2000/svg", Width: chartWidth, Height: h,
		ViewBox: fmt.Sprintf("0 0 %g %g", chartWidth, h), Font: "sans-serif", Size: 12, Body: c.body}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("results chart: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// ratioPanel draws one bar per throughput scenario, scaled so that 1.0
// (parity with the no-op server) and every ratio fit, with a dashed mark
// at its target.
func (c *chart) ratioPanel(rows []resultRow) {
	c.heading(13, "bold", "Throughput ratio tokengate / no-op (median; dashed: target, solid: parity 1.0)")
	c.y += 10
	top := c.y
	scale := 1.2
	for _, r := range rows {
		if r.ratioOK {
			scale = math.Max(scale, r.ratio*1.1)
		}
	}
	x := func(v float64) float64 { return barLeft + barMax*v/scale }
	for _, r := range rows {
		y := c.y + 6 // the bar's top; the texts' baseline is y+12
		c.y += rowHeight
		c.text(labelRight, y+12, "end", "", 0, r.scenario)
		if !r.ratioOK {
			c.text(barLeft+4, y+12, "", "", 0, "n/a")
			continue
		}
		fill := colourOK
		if r.target > 0 && r.ratio < r.target {
			fill = colourMiss
		}
		c.bar(y, x(r.ratio)-barLeft, 16, fill, fmt.Sprintf("%s: %.3f", r.scenario, r.ratio))
		c.text(x(r.ratio)+4, y+12, "", "", 0, fmt.Sprintf("%.2f", r.ratio))
		if r.target > 0 {
			c.line(x(r.target), y-3, x(r.target), y+19, "4 3")
		}
	}
	c.line(x(1), top, x(1), c.y, "")
	c.y += 4
}

// latencyPanel draws each scenario's p99 (tokengate, and the no-op
// server's below it where there is one) on one linear scale.
func (c *chart) latencyPanel(rows []resultRow) {
	c.heading(13, "bold", "p99 latency, ms (blue: tokengate, grey: no-op server)")
	c.y += 10
	var longest time.Duration
	for _, r := range rows {
		longest = max(longest, r.p99, r.noopP99)
	}
	width := func(d time.Duration) float64 { return barMax * float64(d) / float64(longest) / 1.1 }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	for _, r := range rows {
		y := c.y + 6
		c.y += rowHeight
		if r.noopP99 > 0 {
			c.y += 6
		}
		c.text(labelRight, y+11, "end", "", 0, r.scenario)
		c.bar(y, width(r.p99), 12, colourOK, fmt.Sprintf("%s: tokengate p99 %sms", r.scenario, ms(r.p99)))
		c.text(barLeft+width(r.p99)+4, y+10, "", "", 11, ms(r.p99))
		if r.noopP99 > 0 {
			c.bar(y+14, width(r.noopP99), 8, colourNoop, fmt.Sprintf("%s: no-op p99 %sms", r.scenario, ms(r.noopP99)))
			c.text(barLeft+width(r.noopP99)+4, y+22, "", "", 10, ms(r.noopP99))
		}
	}
	c.y += 4
}

// round1 rounds to one decimal, for short attribute values.
func round1(v float64) float64 { return math.Round(v*10) / 10 }
