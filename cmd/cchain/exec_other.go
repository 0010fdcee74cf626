//go:build !unix

package main

import (
	"context"
	"os"
	"os/signal"
)

// stopSignal is what a --watch restart sends first; off unix a process can
// only be killed.
var stopSignal os.Signal = os.Kill

var forwarded = []os.Signal{os.Interrupt}

func notifySignals(ch chan<- os.Signal) (stop func()) {
	signal.Reset(os.Interrupt)
	signal.Notify(ch, forwarded...)
	return func() { signal.Stop(ch) }
}

func terminating(sig os.Signal) bool { return sig == os.Interrupt }

// replaceProcess runs the command as a child and ends with its exit code:
// there is no exec off unix.
func replaceProcess(path string, argv, env []string) error {
	s := &supervisor{path: path, argv: argv, env: env, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	return &exitStatusError{code: s.run(context.Background())}
}

func exitCodeOf(ps *os.ProcessState) int {
	if ps == nil || ps.ExitCode() < 0 {
		return exitError
	}
	return ps.ExitCode()
}

func parseSignal(s string) (os.Signal, error) {
	if s == "INT" || s == "SIGINT" {
		return os.Interrupt, nil
	}
	return nil, usagef("--signal: only INT is supported on this system")
}
