package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// latencies is a sorted set of latency samples with the percentile queries
// the report needs. The zero value is an empty set.
type latencies struct {
	sorted []time.Duration
}

// mergeLatencies joins the per-client sample slices into one sorted set.
// The input slices are not modified.
func mergeLatencies(parts [][]time.Duration) latencies {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]time.Duration, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return latencies{sorted: all}
}

// count is the number of samples.
func (l latencies) count() int { return len(l.sorted) }

// percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of the
// samples, or 0 when there are none.
func (l latencies) percentile(p float64) time.Duration {
	return percentile(l.sorted, p)
}

// max is the largest sample, or 0 when there are none.
func (l latencies) max() time.Duration {
	if len(l.sorted) == 0 {
		return 0
	}
	return l.sorted[len(l.sorted)-1]
}

// percentile is the nearest-rank p-th percentile of sorted (ascending):
// the smallest sample such that at least p percent of the samples are ≤ it.
// p is clamped to [0, 100]; an empty slice gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	p = math.Max(0, math.Min(100, p))
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// median is the median of xs (the mean of the two middle values for an even
// count), or 0 for an empty slice. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// medianDuration is median over durations.
func medianDuration(ds []time.Duration) time.Duration {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = float64(d)
	}
	return time.Duration(math.Round(median(fs)))
}

// ratio is num/den, and false when den is not a positive number.
func ratio(num, den float64) (float64, bool) {
	if !(den > 0) || math.IsNaN(num) || math.IsInf(num, 0) {
		return 0, false
	}
	return num / den, true
}

// formatRatio writes num/den with two decimals, or "n/a" when it is not
// defined.
func formatRatio(num, den float64) string {
	r, ok := ratio(num, den)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", r)
}

// formatDuration writes d in milliseconds with three decimals, the unit the
// report uses for every latency.
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

// formatKiB writes a size in KiB as MiB with one decimal, or "n/a" for a
// negative (unknown) size.
func formatKiB(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// ceilDiv is the smallest integer ≥ a/b for positive durations; 0 when b ≤ 0.
func ceilDiv(a, b time.Duration) int {
	if b <= 0 {
		return 0
	}
	return int((a + b - 1) / b)
}

// sortedKeys is m's keys in ascending order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatMicros writes d in microseconds, or "n/a" for 0 (unknown or no
// checks) and negative values.
func formatMicros(d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}
