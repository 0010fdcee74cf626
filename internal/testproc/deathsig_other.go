//go:build !linux

package testproc

import "os/exec"

func setDeathSignal(cmd *exec.Cmd) {}
