//go:build !linux

package dynalitetest

import "os/exec"

func setDeathSignal(cmd *exec.Cmd) {}
