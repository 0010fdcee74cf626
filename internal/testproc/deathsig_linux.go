package testproc

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the server when the test binary
// dies, so a crashed or killed test run leaves no server behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
