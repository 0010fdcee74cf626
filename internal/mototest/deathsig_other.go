//go:build !linux

package mototest

import "os/exec"

func setDeathSignal(cmd *exec.Cmd) {}
