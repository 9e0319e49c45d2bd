package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// cpuMask is a Linux cpu_set_t of 1024 CPUs.
type cpuMask [1024 / 64]uint64

func maskOf(cpus []int) (*cpuMask, error) {
	var m cpuMask
	for _, c := range cpus {
		if c < 0 || c >= len(m)*64 {
			return nil, fmt.Errorf("CPU %d out of range", c)
		}
		m[c/64] |= 1 << (c % 64)
	}
	return &m, nil
}

// setAffinity sets the CPU affinity of thread tid (0: the calling thread).
func setAffinity(tid int, m *cpuMask) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m)))
	if e != 0 {
		return e
	}
	return nil
}

// getAffinity reads the CPU affinity of thread tid (0: the calling thread).
func getAffinity(tid int, m *cpuMask) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m)))
	if e != 0 {
		return e
	}
	return nil
}

// startOnCPUs starts cmd with its affinity set to cpus from the first
// instruction (as taskset does; nil or empty: inherited): the fork happens
// on this goroutine's thread, locked and given that mask for the moment,
// so the child inherits it, and the Go runtime in the child sizes
// GOMAXPROCS by it.
func startOnCPUs(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	m, err := maskOf(cpus)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	var old cpuMask
	if err := getAffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	if err := setAffinity(0, m); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("sched_setaffinity %v: %w", cpus, err)
	}
	err = cmd.Start()
	if setAffinity(0, &old) == nil {
		runtime.UnlockOSThread()
	} // else: the thread keeps the child's mask and exits with this goroutine
	return err
}

// pinSelf sets the affinity of every thread of this process to cpus
// (threads started later inherit it from the thread that starts them).
func pinSelf(cpus []int) error {
	m, err := maskOf(cpus)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := setAffinity(tid, m); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("sched_setaffinity thread %d %v: %w", tid, cpus, err)
		}
	}
	return nil
}
