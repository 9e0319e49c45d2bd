//go:build !unix

package realas

import "os/exec"

func setProcessGroup(*exec.Cmd) {}

// signalGroup can only kill the server itself here.
func signalGroup(cmd *exec.Cmd, _ bool) { _ = cmd.Process.Kill() }
