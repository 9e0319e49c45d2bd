//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// startOnCPUs starts cmd; pinning to CPUs needs Linux.
func startOnCPUs(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) > 0 {
		return errors.New("--server-cpus needs Linux")
	}
	return cmd.Start()
}

// pinSelf needs Linux.
func pinSelf(cpus []int) error { return errors.New("--client-cpus needs Linux") }
