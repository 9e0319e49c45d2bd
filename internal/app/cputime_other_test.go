//go:build !linux

package app

import "time"

// threadCPU is not measured here: benchmarks fall back to wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
