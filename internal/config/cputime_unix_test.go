//go:build unix

package config

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the test process has used,
// its GC workers included: on a busy machine it leaves out the time other
// processes held the CPU, which wall time does not.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
