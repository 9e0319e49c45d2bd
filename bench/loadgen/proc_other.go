//go:build !linux

package main

import (
	"errors"
	"os"
	"syscall"
)

// childProcAttr has no process-group or parent-death settings off Linux;
// the load generator is meant for Linux (it reads /proc for memory).
func childProcAttr() *syscall.SysProcAttr { return nil }

// killGroup ends p: SIGTERM becomes an interrupt, anything else a kill.
func killGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return errors.New("process not started")
	}
	if sig == syscall.SIGTERM {
		if err := p.Signal(os.Interrupt); err == nil {
			return nil
		}
	}
	return p.Kill()
}
