package main

import (
	"errors"
	"os"
	"syscall"
)

// childProcAttr puts a child in its own process group, so that a signal to
// the group reaches anything it starts, and has the kernel kill it if this
// process dies without cleaning up (a panic in another goroutine, SIGKILL).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends sig to p's process group.
func killGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return errors.New("process not started")
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
