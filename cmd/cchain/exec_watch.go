package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"time"
)

// supervisor runs the command as a child, forwards signals to it, and
// restarts it (or signals it) when the secrets change.
type supervisor struct {
	path   string
	argv   []string
	env    []string
	reread func(context.Context) ([]string, error)

	interval time.Duration
	reload   os.Signal
	grace    time.Duration

	stdin          io.Reader
	stdout, stderr io.Writer
}

func (s *supervisor) warnf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "cchain: warning: %s\n", safeInline(fmt.Sprintf(format, args...)))
}

func (s *supervisor) start(env []string) (*exec.Cmd, chan error, error) {
	c := &exec.Cmd{Path: s.path, Args: s.argv, Env: env, Stdin: s.stdin, Stdout: s.stdout, Stderr: s.stderr}
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	return c, done, nil
}

// wait returns the next interval: DURATION ±10%, doubled for each failed
// read in a row up to 16 times, and never under minWatch.
func (s *supervisor) wait(failures int) time.Duration {
	d := s.interval << min(failures, 4)
	d = time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
	return max(d, minWatch)
}

// run supervises the command until it exits, and returns its exit code.
func (s *supervisor) run(ctx context.Context) int {
	sigs := make(chan os.Signal, 32)
	stopSignals := notifySignals(sigs)
	defer stopSignals()

	child, done, err := s.start(s.env)
	if err != nil {
		fmt.Fprintf(s.stderr, "cchain: %s\n", safeInline(fmt.Sprintf("%s: cannot run: %v", s.argv[0], err)))
		return exitCannotRun
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type readResult struct {
		env []string
		err error
	}
	var (
		cur      = s.env
		pending  []string // the environment of the next start
		failures int
		timer    = time.NewTimer(s.wait(0))
		reads    chan readResult
		kill     <-chan time.Time
		// stopping is the terminating signal that arrived during a
		// restart: the command is not started again.
		stopping os.Signal
	)
	defer timer.Stop()
	if s.reread == nil {
		// Nothing to watch: supervise only.
		timer.Stop()
	}
	for {
		select {
		case sig := <-sigs:
			_ = child.Process.Signal(sig)
			if pending != nil && terminating(sig) {
				stopping = sig
			}
		case <-done:
			if pending != nil && stopping == nil {
				next := pending
				pending, kill = nil, nil
				var err error
				if child, done, err = s.start(next); err != nil {
					fmt.Fprintf(s.stderr, "cchain: %s\n", safeInline(fmt.Sprintf("%s: cannot run: %v", s.argv[0], err)))
					return exitCannotRun
				}
				cur = next
				timer.Reset(s.wait(0))
				continue
			}
			return exitCodeOf(child.ProcessState)
		case <-timer.C:
			if pending != nil {
				continue
			}
			reads = make(chan readResult, 1)
			go func(ch chan<- readResult) {
				rctx, rcancel := context.WithTimeout(ctx, max(s.interval, time.Minute))
				defer rcancel()
				env, err := s.reread(rctx)
				ch <- readResult{env, err}
			}(reads)
		case r := <-reads:
			reads = nil
			if r.err != nil {
				failures++
				s.warnf("re-reading the secrets failed; the command keeps running: %v", r.err)
				timer.Reset(s.wait(failures))
				continue
			}
			failures = 0
			switch {
			case slices.Equal(r.env, cur):
			case s.reload != nil:
				fmt.Fprintf(s.stderr, "cchain: the secrets changed; sending %v to the command\n", s.reload)
				_ = child.Process.Signal(s.reload)
				cur = r.env
			default:
				fmt.Fprintln(s.stderr, "cchain: the secrets changed; restarting the command")
				pending = r.env
				_ = child.Process.Signal(stopSignal)
				kill = time.After(s.grace)
				continue // the timer restarts with the new command
			}
			timer.Reset(s.wait(0))
		case <-kill:
			kill = nil
			s.warnf("the command did not stop within %v of %v; killing it", s.grace, stopSignal)
			_ = child.Process.Kill()
		}
	}
}
