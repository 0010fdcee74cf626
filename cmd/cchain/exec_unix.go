//go:build unix

package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stopSignal is what a --watch restart sends first.
const stopSignal = syscall.SIGTERM

// forwarded are the signals a supervisor passes to its command. Job control
// stops (SIGTSTP, SIGTTIN, SIGTTOU) stop cchain as usual, and SIGCHLD,
// SIGPIPE and SIGURG (the Go runtime's) are cchain's own.
var forwarded = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1,
	syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT,
}

// notifySignals relays the forwarded signals to ch until stop is called.
// SIGINT and SIGTERM are taken from main's handler first: under a
// supervisor they belong to the command, and cchain ends when it does.
func notifySignals(ch chan<- os.Signal) (stop func()) {
	signal.Reset(syscall.SIGINT, syscall.SIGTERM)
	signal.Notify(ch, forwarded...)
	return func() { signal.Stop(ch) }
}

// terminating reports whether sig ends a process by default, so that a
// restart in progress is not completed after it.
func terminating(sig os.Signal) bool {
	switch sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM:
		return true
	}
	return false
}

// replaceProcess replaces cchain with the command.
func replaceProcess(path string, argv, env []string) error {
	err := syscall.Exec(path, argv, env)
	return &exitStatusError{code: exitCannotRun, msg: fmt.Sprintf("%s: cannot run: %v", argv[0], err)}
}

// exitCodeOf is the exit code a shell would give for the command's end.
func exitCodeOf(ps *os.ProcessState) int {
	if ps == nil {
		return exitError
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if c := ps.ExitCode(); c >= 0 {
		return c
	}
	return exitError
}

// parseSignal reads a signal name (HUP, SIGHUP, sighup) or number.
func parseSignal(s string) (os.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return nil, usagef("--signal %s is not a signal name or number", safe(s))
}
