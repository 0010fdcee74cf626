package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes moto die with the benchmark, even if the benchmark
// is killed before it can stop it.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
