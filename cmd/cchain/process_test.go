package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// cchainProcess runs the test binary as a real cchain process with env.
func cchainProcess(t *testing.T, ctx context.Context, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// The race detector sleeps a second at exit unless told not to.
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running cchain: %v", err)
	}
	return out.String(), errb.String(), code
}

// localProcessEnv is the environment of a cchain process on a fresh
// embedded store in a temporary directory.
func localProcessEnv(t *testing.T) []string {
	env, _ := localProcessEnvDir(t)
	return env
}

// localProcessEnvDir is localProcessEnv, and also returns the data directory.
func localProcessEnvDir(t *testing.T) (env []string, dataDir string) {
	home := t.TempDir()
	dataDir = filepath.Join(home, "data")
	return []string{
		"HOME=" + home, "XDG_DATA_HOME=", "CLOUDCHAIN_CONFIG=", "CLOUDCHAIN_DATA_DIR=" + dataDir,
		"CLOUDCHAIN_BACKEND=", "AWS_EC2_METADATA_DISABLED=true",
	}, dataDir
}

// testConcurrentProcesses runs n cchain processes that write one secret at
// once, then checks that every write landed as its own version, and that
// with --if-version exactly one wins.
func testConcurrentProcesses(t *testing.T, env []string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	depth := fmt.Sprint(n + 5)
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, code := cchainProcess(t, ctx, env, fmt.Sprintf("value-%02d", i), "put", "race", "shared", "-", "--history-depth", depth, "--json")
			if code != 0 {
				t.Errorf("writer %d: exit %d: %s", i, code, errOut)
			}
			results[i] = out
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	out, errOut, code := cchainProcess(t, ctx, env, "", "history", "race", "shared", "--json")
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	for v := 1; v <= n; v++ {
		if !strings.Contains(out, fmt.Sprintf(`"version": %d,`, v)) {
			t.Fatalf("version %d is missing from the history:\n%s", v, out)
		}
	}
	var values []string
	for v := 1; v <= n; v++ {
		val, errOut, code := cchainProcess(t, ctx, env, "", "get", "race", "shared", "--version", fmt.Sprint(v), "-n")
		if code != 0 {
			t.Fatalf("get --version %d: exit %d: %s", v, code, errOut)
		}
		values = append(values, val)
	}
	slices.Sort(values)
	for i, v := range values {
		if want := fmt.Sprintf("value-%02d", i); v != want {
			t.Fatalf("after %d concurrent writers the versions hold %q; want every value-NN once", n, values)
		}
	}

	// With --if-version, exactly one of n writers wins.
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, code := cchainProcess(t, ctx, env, fmt.Sprint(i), "put", "race", "cas", "-", "--if-version", "0")
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[exitOK] != 1 || codes[exitConflict] != n-1 {
		t.Fatalf("--if-version 0 by %d processes gave exit codes %v; want one 0 and %d times %d", n, codes, n-1, exitConflict)
	}
}

func TestConcurrentProcessesLocal(t *testing.T) {
	testConcurrentProcesses(t, localProcessEnv(t), 20)
}

func TestExitCodes(t *testing.T) {
	env := localProcessEnv(t)
	ctx := context.Background()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "put", "db", "alice", "v1"); code != 0 {
		t.Fatal(errOut)
	}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"ok", []string{"-u", "alice", "-e", "db", "-r"}, exitOK},
		{"usage", []string{"-u", "alice", "-r"}, exitUsage},
		{"unknown flag", []string{"get", "--nope"}, exitUsage},
		{"invalid id", []string{"get", "db", "a\x01"}, exitUsage},
		{"not found", []string{"get", "db", "bob"}, exitNotFound},
		{"version not found", []string{"get", "db", "alice", "--version", "7"}, exitNotFound},
		{"conflict", []string{"put", "db", "alice", "x", "--if-version", "0"}, exitConflict},
		{"undelete of a live secret", []string{"undelete", "db", "alice"}, exitConflict},
		{"list of a missing service", []string{"list", "nosuch"}, exitNotFound},
		{"history of a missing service", []string{"history", "nosuch", "alice"}, exitNotFound},
		{"store error never rewritten", []string{"get", "arg(s)", "unknown command"}, exitNotFound},
		{"empty stdin", []string{"put", "db", "alice"}, exitUsage},
		{"save of a flag", []string{"-u", "alice", "-e", "db", "-s", "-r"}, exitUsage},
		{"mistyped command", []string{"lsit"}, exitUsage},
		{"help of an unknown command", []string{"help", "gte"}, exitUsage},
		{"service delete unconfirmed", []string{"delete", "db"}, exitUsage},
		{"deleted", []string{"delete", "db", "alice"}, exitOK},
		{"read deleted", []string{"get", "db", "alice"}, exitDeleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := cchainProcess(t, ctx, env, "", c.args...)
			if code != c.code {
				t.Fatalf("cchain %q: exit %d, want %d (stderr %q)", c.args, code, c.code, errOut)
			}
			if code != 0 && out != "" {
				t.Fatalf("a failure printed %q on stdout", out)
			}
			if code != 0 && !strings.HasPrefix(errOut, "cchain: ") {
				t.Fatalf("stderr %q lacks the cchain: prefix", errOut)
			}
		})
	}
}

// TestPutOutputFails: a put whose confirmation cannot be written fails,
// and says that the secret was saved.
func TestPutOutputFails(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	env := localProcessEnv(t)
	for _, args := range [][]string{{"put", "db", "alice", "-"}, {"put", "db", "alice", "-", "--json"}, {"-u", "alice", "-e", "db", "-s", "-"}} {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
		cmd.Stdin = strings.NewReader("s3cret")
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitError {
			t.Fatalf("%v to a full disk: %v, stderr %q; want exit %d", args, err, errb.String(), exitError)
		}
		if !strings.Contains(errb.String(), "no space left on device (the secret was saved as db/alice version") {
			t.Fatalf("%v: stderr %q", args, errb.String())
		}
	}
}

// TestLockedStore: a second process waiting for the embedded store's lock
// gets a clear error after a bounded wait instead of hanging.
func TestLockedStore(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	ctx := context.Background()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "put", "db", "alice", "v1"); code != 0 {
		t.Fatal(errOut)
	}
	db, err := bbolt.Open(filepath.Join(dataDir, "secrets.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"get", "db", "alice"}, {"put", "db", "alice", "v2"}} {
		out, errOut, code := cchainProcess(t, ctx, env, "", append(args, "--lock-timeout", "300ms")...)
		if code != exitUnavailable || out != "" {
			t.Fatalf("%v while locked: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "store is locked by another process") || !strings.Contains(errOut, "hint: wait for the other cchain process") {
			t.Fatalf("%v while locked: stderr %q", args, errOut)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cchainProcess(t, ctx, env, "", "get", "db", "alice")
	if code != 0 || out != "v1\n" {
		t.Fatalf("after the lock is released: exit %d, %q, %q", code, out, errOut)
	}
}
