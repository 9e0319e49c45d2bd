package main

import (
	"bytes"
	"fmt"
	"io"
)

// minRatio is the throughput target of a cached gRPC check: tokengate at
// least this fraction of the no-op server's checks per second; maxP99Ratio
// bounds its median p99 against the no-op's.
const (
	minRatio    = 0.95
	maxP99Ratio = 1.2
)

// results is every scenario's outcome, for the summary and the targets.
type results struct {
	tp       throughputResult
	http     throughputResult // HTTP mode (step 1b); clients 0: not run
	burst    burstResult
	inactive inactiveResult
	flood    floodResult
	replicas replicaResult
}

// missedTargets lists, one sentence each, the targets the results missed.
func missedTargets(r results) []string {
	var missed []string
	miss := func(format string, args ...any) { missed = append(missed, fmt.Sprintf(format, args...)) }
	switch {
	case !r.tp.medianRatioOK:
		miss("throughput ratio tokengate/noop could not be computed (no noop checks)")
	case r.tp.medianRatio < minRatio:
		miss("throughput ratio tokengate/noop %.3f < %.2f", r.tp.medianRatio, minRatio)
	}
	if r.tp.medianNoopP99 > 0 {
		if p := float64(r.tp.medianTgP99) / float64(r.tp.medianNoopP99); p > maxP99Ratio {
			miss("p99 tokengate/noop %.2f > %.1f", p, maxP99Ratio)
		}
	}
	if r.http.clients > 0 {
		switch {
		case !r.http.medianRatioOK:
			miss("HTTP-mode throughput ratio tokengate/noop could not be computed (no noop checks)")
		case r.http.medianRatio < minHTTPRatio:
			miss("HTTP-mode throughput ratio tokengate/noop %.3f < %.2f", r.http.medianRatio, minHTTPRatio)
		}
		if r.http.tgNonAllows != 0 || r.http.noopNonAllows != 0 {
			miss("HTTP mode: %d tokengate and %d noop answers were not 200 (want 0)", r.http.tgNonAllows, r.http.noopNonAllows)
		}
	}
	if r.tp.tgNonAllows != 0 {
		miss("%d of %d tokengate throughput answers were not allows (want 0)", r.tp.tgNonAllows, r.tp.tgChecks)
	}
	if r.tp.noopNonAllows != 0 {
		miss("%d noop server answers were not allows (want 0)", r.tp.noopNonAllows)
	}
	if r.burst.asCalls != 1 {
		miss("cold burst made %d authorization server calls for one token (want 1)", r.burst.asCalls)
	}
	if r.burst.tally.allowed != int64(r.burst.checks) {
		miss("cold burst allowed %d of %d checks (want all)", r.burst.tally.allowed, r.burst.checks)
	}
	if r.inactive.asCalls > int64(r.inactive.bound) {
		miss("repeated inactive token made %d authorization server calls in %v (want <= %d)",
			r.inactive.asCalls, r.inactive.duration, r.inactive.bound)
	}
	if n := r.inactive.res.tally.total(); r.inactive.inactive != n {
		miss("repeated inactive token: %d of %d answers were 401 inactive (want all)", r.inactive.inactive, n)
	}
	if r.flood.asPeak > maxConcurrentLimit {
		miss("flood: authorization server peak concurrency %d > max_concurrent_introspections %d",
			r.flood.asPeak, maxConcurrentLimit)
	}
	if n := r.flood.during.tally.notAllowed(); n != 0 {
		miss("flood: %d of %d cached good-token checks were not allows (want 0)", n, r.flood.during.tally.total())
	}
	return append(missed, replicaMissed(r.replicas)...)
}

// throughputRows writes one comparison's figures as summary rows.
func throughputRows(row func(name, format string, args ...any), name string, tp throughputResult, target float64) {
	row(name, "median RPS noop %.0f, tokengate %.0f; median ratio tokengate/noop %s (target >= %.2f); non-allows %d of %d",
		tp.medianNoopRPS, tp.medianTgRPS, ratioText(tp.medianRatio, tp.medianRatioOK), target, tp.tgNonAllows, tp.tgChecks)
	row(name+" CPU", "median server CPU/check noop %s, tokengate %s (ratio noop/tokengate %s); median p99 noop %s, tokengate %s",
		formatMicros(tp.medianNoopCPU), formatMicros(tp.medianTgCPU), ratioText(tp.cpuRatio, tp.cpuRatioOK),
		formatDuration(tp.medianNoopP99), formatDuration(tp.medianTgP99))
}

// printSummary writes the final block: every figure, then the targets.
func printSummary(out io.Writer, r results) {
	fmt.Fprintf(out, "\n== Summary\n")
	row := func(name, format string, args ...any) {
		fmt.Fprintf(out, "%-18s %s\n", name, fmt.Sprintf(format, args...))
	}
	row("throughput", "median RPS noop %.0f, tokengate %.0f; median ratio tokengate/noop %s (target >= %.2f)",
		r.tp.medianNoopRPS, r.tp.medianTgRPS, ratioText(r.tp.medianRatio, r.tp.medianRatioOK), minRatio)
	row("latency", "median p99 noop %s, tokengate %s (target <= %.1fx); tokengate median p50 %s",
		formatDuration(r.tp.medianNoopP99), formatDuration(r.tp.medianTgP99), maxP99Ratio, formatDuration(r.tp.medianTgP50))
	row("server CPU/check", "median noop %s, tokengate %s", formatMicros(r.tp.medianNoopCPU), formatMicros(r.tp.medianTgCPU))
	if r.http.clients > 0 {
		throughputRows(row, "HTTP mode", r.http, minHTTPRatio)
	}
	row("non-allows", "tokengate %d of %d throughput checks (target 0)", r.tp.tgNonAllows, r.tp.tgChecks)
	row("cold burst", "%d AS call(s) for %d concurrent checks of one new token (target 1); %d allowed",
		r.burst.asCalls, r.burst.checks, r.burst.tally.allowed)
	row("inactive token", "%d AS call(s) in %v (target <= %d); %d of %d answers 401 inactive",
		r.inactive.asCalls, r.inactive.duration, r.inactive.bound, r.inactive.inactive, r.inactive.res.tally.total())
	f := r.flood
	row("flood", "%d of %d checks in %.1fs; AS peak concurrent %d (target <= %d); %d AS calls; 401=%d 503=%d",
		f.tally.total(), f.plan.tokens, f.elapsed.Seconds(), f.asPeak, maxConcurrentLimit, f.asCalls,
		f.tally.denied[401], f.tally.denied[503])
	row("tokengate memory", "VmRSS before flood %s, after %s; VmHWM after %s",
		formatKiB(f.memBefore.rssKiB), formatKiB(f.memAfter.rssKiB), formatKiB(f.memAfter.hwmKiB))
	row("cached p99", "during flood %s vs without flood %s (%d clients each); throughput rounds %s (%d clients)",
		formatDuration(f.during.lat.percentile(99)), formatDuration(f.baseline.lat.percentile(99)), f.plan.probes,
		formatDuration(r.tp.medianTgP99), r.tp.clients)
	printReplicaSummary(row, r.replicas)
	missed := missedTargets(r)
	for _, m := range missed {
		fmt.Fprintf(out, "TARGET MISSED: %s\n", m)
	}
	if len(missed) == 0 {
		fmt.Fprintln(out, "all targets met")
	}
}

// headingWriter passes writes through to w, replacing old by new in them
// (fmt.Fprintf writes a line in one call, so a heading is never split).
type headingWriter struct {
	w        io.Writer
	old, new string
}

// Write implements io.Writer.
func (h *headingWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(h.old)) {
		if _, err := h.w.Write(bytes.ReplaceAll(p, []byte(h.old), []byte(h.new))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return h.w.Write(p)
}
