//go:build unix

package main

import "golang.org/x/sys/unix"

// disableCoreDumps sets RLIMIT_CORE to 0, soft and hard, so that a crash
// leaves no core file holding the master key or a secret.
func disableCoreDumps() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
}
