package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the server die with the harness, even if the harness
// is killed before it can stop it.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
