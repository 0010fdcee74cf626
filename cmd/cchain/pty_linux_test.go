package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyBuffer collects what the terminal shows.
type ptyBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *ptyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *ptyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ptySession is cchain running with a pseudo-terminal as its controlling
// terminal, stdin, stdout and stderr.
type ptySession struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	// tty is the terminal side, kept open so that its settings and input
	// queue can be checked after cchain exits.
	tty    *os.File
	screen *ptyBuffer
	copied chan struct{}
	// The terminal's state once cchain exited.
	echo   bool
	inputQ int
}

func startOnTerminal(t *testing.T, env []string, args ...string) *ptySession {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close(); tty.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, cmd: cmd, master: master, tty: tty, screen: &ptyBuffer{}, copied: make(chan struct{})}
	go func() {
		defer close(s.copied)
		_, _ = io.Copy(s.screen, master) // ends with EIO once the terminal is closed
	}()
	return s
}

// waitFor waits until the terminal shows text for the n-th time.
func (s *ptySession) waitFor(text string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.screen.String(), text) < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%q did not appear within 10s; the terminal shows %q", text, s.screen.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(text)); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for cchain to exit and returns its exit code and how long
// the wait took. It records the terminal's state, then closes the terminal
// side and collects all that cchain printed.
func (s *ptySession) wait() (int, time.Duration) {
	s.t.Helper()
	start := time.Now()
	err := s.cmd.Wait()
	took := time.Since(start)
	tio, terr := unix.IoctlGetTermios(int(s.tty.Fd()), unix.TCGETS)
	if terr != nil {
		s.t.Fatal(terr)
	}
	s.echo = tio.Lflag&unix.ECHO != 0
	// What a shell would read and run next.
	if s.inputQ, terr = unix.IoctlGetInt(int(s.tty.Fd()), unix.TIOCINQ); terr != nil {
		s.t.Fatal(terr)
	}
	s.tty.Close()
	select {
	case <-s.copied:
	case <-time.After(5 * time.Second):
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, took
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), took
	case errors.As(err, &ee):
		s.t.Fatalf("cchain was killed by a signal (%v); the terminal shows %q", err, s.screen.String())
	}
	s.t.Fatal(err)
	return 0, took
}

// runOnTerminal runs cchain on a terminal, answers each prompt as it
// appears, and returns what the terminal showed and the exit code.
func runOnTerminal(t *testing.T, env []string, answers []string, args ...string) (string, int) {
	t.Helper()
	s := startOnTerminal(t, env, args...)
	prompts := []string{"Secret: ", "Again: ", "[y/N] "}
	count := func() int {
		n := 0
		for _, p := range prompts {
			n += strings.Count(s.screen.String(), p)
		}
		return n
	}
	for i, a := range answers {
		deadline := time.Now().Add(10 * time.Second)
		for count() <= i {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt within 10s; the terminal shows %q", s.screen.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.send(a + "\n")
	}
	code, _ := s.wait()
	return s.screen.String(), code
}

// TestTerminalPrompt runs cchain on a real pseudo-terminal: the secret is
// asked for twice without echo, a purge and a service delete ask for
// confirmation.
func TestTerminalPrompt(t *testing.T) {
	env := localProcessEnv(t)
	screen, code := runOnTerminal(t, env, []string{"tty-secret-1", "tty-secret-1"}, "-u", "alice", "-e", "db", "-s")
	if code != 0 || !strings.Contains(screen, "Secret saved!") {
		t.Fatalf("save on a terminal: exit %d, screen %q", code, screen)
	}
	if strings.Contains(screen, "tty-secret-1") {
		t.Fatalf("the secret was echoed: %q", screen)
	}
	screen, code = runOnTerminal(t, env, []string{"one", "two"}, "put", "db", "alice")
	if code != exitUsage || !strings.Contains(screen, "the two entries differ; nothing was saved") {
		t.Fatalf("mismatched entries: exit %d, screen %q", code, screen)
	}
	screen, code = runOnTerminal(t, env, nil, "-u", "alice", "-e", "db", "-r")
	if code != 0 || !strings.Contains(screen, "tty-secret-1\r\n") {
		t.Fatalf("read: exit %d, screen %q", code, screen)
	}
	screen, code = runOnTerminal(t, env, []string{"n"}, "delete", "db")
	if code != exitUsage || !strings.Contains(screen, "Delete every secret of service db? [y/N]") || !strings.Contains(screen, "not confirmed") {
		t.Fatalf("service delete declined: exit %d, screen %q", code, screen)
	}
	screen, code = runOnTerminal(t, env, []string{"n"}, "delete", "db", "alice", "--purge")
	if code != exitUsage || !strings.Contains(screen, "This cannot be undone. [y/N]") {
		t.Fatalf("purge declined: exit %d, screen %q", code, screen)
	}
	screen, code = runOnTerminal(t, env, []string{"y"}, "delete", "db", "alice", "--purge")
	if code != 0 || !strings.Contains(screen, "Purged db/alice") {
		t.Fatalf("purge confirmed: exit %d, screen %q", code, screen)
	}
}

// TestTerminalPaste: a paste of several lines at the secret prompt is
// refused, is never echoed, and none of it is left for the shell to run.
func TestTerminalPaste(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	for _, at := range []string{"Secret: ", "Again: "} {
		t.Run(strings.TrimSuffix(at, ": "), func(t *testing.T) {
			s := startOnTerminal(t, env, "put", "tls", "server.key")
			if at == "Again: " {
				s.waitFor("Secret: ", 1)
				s.send("first-entry\n")
			}
			s.waitFor(at, 1)
			s.send("-----BEGIN KEY-----\nrm -rf pasted-line-two\nrm -rf pasted-line-three\n-----END KEY-----\n")
			code, _ := s.wait()
			screen := s.screen.String()
			if code != exitUsage || !strings.Contains(screen, "more than one line was entered at once; nothing was saved") {
				t.Fatalf("multi-line paste: exit %d, screen %q", code, screen)
			}
			if strings.Contains(screen, "pasted-line") {
				t.Fatalf("the paste was echoed: %q", screen)
			}
			if n := s.inputQ; n != 0 {
				t.Fatalf("%d bytes of the paste are left on the terminal for the shell", n)
			}
			if !s.echo {
				t.Fatal("echo is still off after cchain exited")
			}
			if _, err := os.Stat(filepath.Join(dataDir, "secrets.db")); err == nil {
				t.Fatal("the store was created although nothing was saved")
			}
		})
	}
}

// TestTerminalSignals: Ctrl-C and SIGTERM end the secret prompt and the
// purge confirmation at once, restore the terminal's echo, write nothing,
// and exit 130 and 143.
func TestTerminalSignals(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	cases := []struct {
		name   string
		args   []string
		prompt string
		stop   func(s *ptySession)
		code   int
	}{
		{"prompt SIGINT", []string{"put", "db", "alice"}, "Secret: ", func(s *ptySession) { s.cmd.Process.Signal(syscall.SIGINT) }, exitInterrupted},
		{"prompt Ctrl-C", []string{"-u", "alice", "-e", "db", "-s"}, "Secret: ", func(s *ptySession) { s.send("\x03") }, exitInterrupted},
		{"prompt SIGTERM", []string{"put", "db", "alice"}, "Secret: ", func(s *ptySession) { s.cmd.Process.Signal(syscall.SIGTERM) }, exitTerminated},
		{"again SIGTERM", []string{"put", "db", "alice"}, "Again: ", func(s *ptySession) { s.cmd.Process.Signal(syscall.SIGTERM) }, exitTerminated},
		{"purge SIGINT", []string{"delete", "db", "alice", "--purge"}, "[y/N] ", func(s *ptySession) { s.cmd.Process.Signal(syscall.SIGINT) }, exitInterrupted},
		{"service delete SIGTERM", []string{"delete", "db"}, "[y/N] ", func(s *ptySession) { s.cmd.Process.Signal(syscall.SIGTERM) }, exitTerminated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startOnTerminal(t, env, c.args...)
			if c.prompt == "Again: " {
				s.waitFor("Secret: ", 1)
				s.send("typed-before-the-signal\n")
			}
			s.waitFor(c.prompt, 1)
			c.stop(s)
			code, took := s.wait()
			if code != c.code {
				t.Fatalf("exit %d, want %d; the terminal shows %q", code, c.code, s.screen.String())
			}
			if took > 2*time.Second {
				t.Fatalf("cchain took %v to stop", took)
			}
			if !s.echo {
				t.Fatal("echo is still off after cchain exited")
			}
			if _, err := os.Stat(filepath.Join(dataDir, "secrets.db")); err == nil {
				t.Fatal("the store was created although nothing was saved")
			}
		})
	}
}

// TestNoCoreDumps: cchain sets its core file size limit to 0, so that a
// crash cannot write the master key or a secret to disk.
func TestNoCoreDumps(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max == 0 {
		t.Skip("core dumps are already off for this test process; nothing to check")
	}
	// The child inherits a non-zero limit, so only cchain can lower it.
	raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_CORE, &lim) })
	s := startOnTerminal(t, localProcessEnv(t), "put", "db", "alice")
	s.waitFor("Secret: ", 1)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait()
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); len(f) < 6 || f[4] != "0" || f[5] != "0" {
				t.Fatalf("cchain runs with %q, want a soft and hard limit of 0", line)
			}
			return
		}
	}
	t.Fatalf("no core file size in %s", limits)
}
