package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair with nothing but the kernel's
// /dev/ptmx interface.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

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

// runOnTerminal runs cchain with a real terminal as stdin, stdout and
// stderr, answers each prompt as it appears, and returns what the terminal
// showed and the exit code.
func runOnTerminal(t *testing.T, env []string, answers []string, args ...string) (string, int) {
	t.Helper()
	master, slave := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	screen := &ptyBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(screen, master) // ends with EIO once the child is gone
	}()
	prompts := []string{"Secret: ", "Again: ", "[y/N] "}
	seen := 0
	for _, a := range answers {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := 0
			for _, p := range prompts {
				n += strings.Count(screen.String(), p)
			}
			if n > seen {
				seen++
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no prompt within 10s; the terminal shows %q", screen.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := master.Write([]byte(a + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	err := cmd.Wait()
	slave.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return screen.String(), code
}

// TestTerminalPrompt runs cchain on a real pseudo-terminal: the secret is
// asked for twice without echo, and a purge asks for confirmation.
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
	screen, code = runOnTerminal(t, env, []string{"n"}, "delete", "db", "alice", "--purge")
	if code != exitUsage || !strings.Contains(screen, "This cannot be undone. [y/N]") {
		t.Fatalf("purge declined: exit %d, screen %q", code, screen)
	}
	screen, code = runOnTerminal(t, env, []string{"y"}, "delete", "db", "alice", "--purge")
	if code != 0 || !strings.Contains(screen, "Purged db/alice") {
		t.Fatalf("purge confirmed: exit %d, screen %q", code, screen)
	}
}
