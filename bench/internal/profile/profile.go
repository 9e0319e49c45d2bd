// Package profile writes the CPU and allocation profiles of a benchmarked
// server process (bench/tgprof, the load generator's no-op server) when
// the load generator asks for them through the environment.
package profile

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// EnvVar names the path prefix of the profiles: PREFIX.cpu.pprof and
// PREFIX.allocs.pprof. Unset or empty: no profiling.
const EnvVar = "LOADGEN_PROFILE"

// Start begins CPU profiling into prefix.cpu.pprof when prefix is not
// empty. The returned stop writes both profiles (allocations since the
// process started, as `go tool pprof -sample_index=alloc_objects` reads
// them) and must be called once, as the process ends; it reports the
// first error.
func Start(prefix string) (stop func() error, err error) {
	if prefix == "" {
		return func() error { return nil }, nil
	}
	cpu, err := os.Create(prefix + ".cpu.pprof")
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		_ = cpu.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		runtime.GC() // the allocation profile is as of the last GC
		f, err := os.Create(prefix + ".allocs.pprof")
		if err != nil {
			return fmt.Errorf("allocs profile: %w", err)
		}
		werr := pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("allocs profile: %w", werr)
		}
		return nil
	}, nil
}
