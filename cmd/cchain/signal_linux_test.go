package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// startProcess starts cchain with stdin from a pipe that stays open.
func startProcess(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// exitCode waits for cmd and returns its exit code and how long the wait
// took; death by a signal fails the test.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, time.Since(start)
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), time.Since(start)
	}
	t.Fatalf("cchain did not exit by itself: %v", err)
	return 0, 0
}

// hasOpen reports whether process pid has path open.
func hasOpen(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// TestSignalWhileLocked: SIGTERM ends a wait for the embedded store's lock
// at once (not after the lock timeout), with exit code 143.
func TestSignalWhileLocked(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	if _, errOut, code := cchainProcess(t, context.Background(), env, "v1", "put", "db", "alice", "-"); code != 0 {
		t.Fatal(errOut)
	}
	path := filepath.Join(dataDir, "secrets.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{{"get", "db", "alice"}, {"put", "db", "alice", "-q", "v2"}} {
		cmd, out := startProcess(t, env, append(args, "--lock-timeout", "60s")...)
		deadline := time.Now().Add(10 * time.Second)
		for !hasOpen(cmd.Process.Pid, path) {
			if time.Now().After(deadline) {
				t.Fatalf("%v never opened the store: %s", args, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		code, took := exitCode(t, cmd)
		if code != exitTerminated || took > 4*time.Second {
			t.Fatalf("%v: SIGTERM while waiting for the lock: exit %d after %v, output %q", args, code, took, out)
		}
		if strings.Contains(out.String(), "v1") {
			t.Fatalf("%v printed the secret: %q", args, out)
		}
	}
}

// TestSignalWhileOpeningFIFO: a FIFO given as the config file is refused,
// or, if cchain blocks on it, SIGTERM ends it with 143.
func TestSignalWhileOpeningFIFO(t *testing.T) {
	env := localProcessEnv(t)
	fifo := filepath.Join(t.TempDir(), "config.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	cmd, out := startProcess(t, env, "get", "db", "alice", "--config", fifo)
	exited := make(chan struct{})
	var code int
	var took time.Duration
	go func() { code, took = exitCode(t, cmd); close(exited) }()
	// Once cchain opens the FIFO for reading, a non-blocking writer can
	// open it too: that is the moment it would block.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			if code != exitUsage {
				t.Fatalf("FIFO config: exit %d, output %q", code, out)
			}
			return
		default:
		}
		if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			defer unix.Close(fd)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cchain neither opened the FIFO nor exited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if code != exitTerminated && code != exitUsage || took > 4*time.Second {
		t.Fatalf("SIGTERM while reading a FIFO config: exit %d after %v, output %q", code, took, out)
	}
}
