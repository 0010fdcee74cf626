//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// These tests run cchain exec as a real process: exec replaces the process,
// and signals, exit codes, /proc and file descriptors are the kernel's.

// openLocalStore opens the embedded store that a cchain process with env
// uses.
func openLocalStore(t *testing.T, env []string) *cloudchain.Store {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok && v != "" }, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cfg.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func putMany(t *testing.T, st *cloudchain.Store, service string, n int, value func(i int) string) {
	t.Helper()
	values := make([]cloudchain.SecretValue, n)
	for i := range values {
		values[i] = cloudchain.SecretValue{User: fmt.Sprintf("user-%03d", i), Value: []byte(value(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := st.PutMany(ctx, service, values); err != nil {
		t.Fatal(err)
	}
}

// startCchain starts cchain without waiting for it.
func startCchain(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	var errb syncBuffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &errb
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 10s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileHas(path, text string) func() bool {
	return func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), text)
	}
}

// waitExit waits at most 10 seconds for cmd and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("cchain did not exit within 10s")
		return -1
	}
}

// checkProc checks that no secret is on the argv of pid, and that pid has no
// file open in the store's data directory.
func checkProc(t *testing.T, pid int, dataDir string, secrets ...string) {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(cmdline, []byte(s)) {
			t.Errorf("a secret is on the argv of process %d: %q", pid, cmdline)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if strings.HasPrefix(target, dataDir) {
			t.Errorf("process %d holds %s open as fd %s", pid, target, fd.Name())
		}
	}
}

const trapScript = `trap 'echo got-TERM > "$OUT"; exit 42' TERM
trap 'echo got-INT > "$OUT"; exit 43' INT
echo $$ > "$READY.tmp"; mv "$READY.tmp" "$READY"
while :; do sleep 0.02; done`

// TestExecSignalsAndProc: SIGTERM and SIGINT reach the command (in place of
// cchain, and under --watch), its exit code comes back, and no secret is
// on the argv of the command or of cchain, nor any store file open in the
// command.
func TestExecSignalsAndProc(t *testing.T) {
	const secret = "s3cret-value-that-must-not-leak"
	for _, mode := range []string{"exec", "watch"} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(fmt.Sprintf("%s/%v", mode, sig), func(t *testing.T) {
				env, dataDir := localProcessEnvDir(t)
				st := openLocalStore(t, env)
				if _, err := st.Put(context.Background(), "db", "password", []byte(secret)); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				out, ready := filepath.Join(dir, "out"), filepath.Join(dir, "ready")
				env = append(env, "OUT="+out, "READY="+ready)
				args := []string{"exec", "db", "--", "sh", "-c", trapScript}
				if mode == "watch" {
					args = []string{"exec", "--watch", "1s", "db", "--", "sh", "-c", trapScript}
				}
				cmd, output := startCchain(t, env, args...)
				waitFor(t, "the command to start", func() bool { _, err := os.Stat(ready); return err == nil })
				b, _ := os.ReadFile(ready)
				childPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", childPID))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(environ, []byte("password="+secret+"\x00")) {
					t.Errorf("the command's environment lacks the secret")
				}
				checkProc(t, childPID, dataDir, secret)
				if mode == "exec" {
					if childPID != cmd.Process.Pid {
						t.Errorf("the command runs as PID %d, not in place of cchain (%d)", childPID, cmd.Process.Pid)
					}
				} else {
					if childPID == cmd.Process.Pid {
						t.Errorf("--watch did not start a child")
					}
					checkProc(t, cmd.Process.Pid, dataDir, secret)
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				want := map[syscall.Signal]int{syscall.SIGTERM: 42, syscall.SIGINT: 43}[sig]
				if code := waitExit(t, cmd); code != want {
					t.Errorf("exit code %d, want the command's %d; output %q", code, want, output)
				}
				if !fileHas(out, "got-"+strings.TrimPrefix(unixSignalName(sig), "SIG"))() {
					t.Errorf("the command did not get %v", sig)
				}
				if strings.Contains(output.String(), secret) {
					t.Errorf("output shows the secret: %q", output)
				}
			})
		}
	}
}

func unixSignalName(s syscall.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// TestExecWatch: a change restarts the command, or signals it with
// --signal; a failed re-read warns and keeps it running.
func TestExecWatch(t *testing.T) {
	const script = `printf '%s\n' "$token" >> "$STARTS"
trap 'echo hup >> "$STARTS"' HUP
trap 'exit 0' TERM
while :; do sleep 0.02; done`
	for _, mode := range []string{"restart", "signal"} {
		t.Run(mode, func(t *testing.T) {
			env, dataDir := localProcessEnvDir(t)
			st := openLocalStore(t, env)
			ctx := context.Background()
			if _, err := st.Put(ctx, "db", "token", []byte("v1")); err != nil {
				t.Fatal(err)
			}
			starts := filepath.Join(t.TempDir(), "starts")
			env = append(env, "STARTS="+starts)
			args := []string{"exec", "--watch", "200ms", "db", "--", "sh", "-c", script}
			if mode == "signal" {
				args = []string{"exec", "--watch", "200ms", "--signal", "HUP", "db", "--", "sh", "-c", script}
			}
			began := time.Now()
			cmd, output := startCchain(t, env, args...)
			waitFor(t, "the first start", fileHas(starts, "v1\n"))

			// A store that cannot be read: a warning, and the command runs on.
			dbPath := filepath.Join(dataDir, "secrets.db")
			saved, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dbPath, []byte("not a bbolt file"), 0o600); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "a warning", func() bool { return strings.Contains(output.String(), "warning: re-reading the secrets failed") })
			if err := os.WriteFile(dbPath, saved, 0o600); err != nil {
				t.Fatal(err)
			}
			if cmd.ProcessState != nil {
				t.Fatal("cchain stopped after a failed re-read")
			}

			if _, err := st.Put(ctx, "db", "token", []byte("v2")); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			if mode == "restart" {
				waitFor(t, "the restart", fileHas(starts, "v1\nv2\n"))
			} else {
				waitFor(t, "the signal", fileHas(starts, "v1\nhup\n"))
			}
			t.Logf("%s seen %v after the change (%v after start)", mode, time.Since(changed).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, cmd); code != 0 {
				t.Errorf("exit code %d, want 0: %s", code, output)
			}
			b, _ := os.ReadFile(starts)
			want := map[string]string{"restart": "v1\nv2\n", "signal": "v1\nhup\n"}[mode]
			if string(b) != want {
				t.Errorf("starts %q, want %q", b, want)
			}
		})
	}
}

// tamper copies the stored item of (service, from) over (service, to), so
// that to's record no longer authenticates.
func tamper(t *testing.T, b cloudchain.Backend, service, from, to string) {
	t.Helper()
	ctx := context.Background()
	it, err := b.Load(ctx, service, from)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := b.Load(ctx, service, to)
	if err != nil {
		t.Fatal(err)
	}
	it.User = to
	if _, err := b.Save(ctx, prev, it); err != nil {
		t.Fatal(err)
	}
}

// testFailClosed: one undecryptable secret among 100 stops the command from
// starting, names the secret, and exits 6.
func testFailClosed(t *testing.T, env []string, st *cloudchain.Store, b cloudchain.Backend) {
	putMany(t, st, "big", 100, func(i int) string { return fmt.Sprintf("value-%03d", i) })
	marker := filepath.Join(t.TempDir(), "started")
	_, errOut, code := cchainProcess(t, context.Background(), env, "", "exec", "big", "--", "sh", "-c", `touch "$0"`, marker)
	if code != 0 {
		t.Fatalf("before tampering: exit %d: %s", code, errOut)
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	tamper(t, b, "big", "user-000", "user-042")
	out, errOut, code := cchainProcess(t, context.Background(), env, "", "exec", "big", "--", "sh", "-c", `touch "$0"`, marker)
	if code != exitAuth {
		t.Errorf("exit %d, want %d", code, exitAuth)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command was started")
	}
	if out != "" || !strings.Contains(errOut, "cannot read 1 secret(s); the command was not started:\n  big/user-042: ") || strings.Contains(errOut, "value-") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	// env fails the same way and prints nothing.
	out, errOut, code = cchainProcess(t, context.Background(), env, "", "env", "big")
	if code != exitAuth || out != "" || !strings.Contains(errOut, "big/user-042") {
		t.Errorf("env: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestExecFailClosedLocal(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	st := openLocalStore(t, env)
	b, err := bolt.Open(filepath.Join(dataDir, "secrets.db"))
	if err != nil {
		t.Fatal(err)
	}
	testFailClosed(t, env, st, b)
}

// awsStack is a table on dynalite and a KMS test server of the test's own,
// with a store over them and the environment of a cchain process that uses
// them through a config file.
func awsStack(t *testing.T) (env []string, st *cloudchain.Store, b cloudchain.Backend, k *kmstest.Server) {
	s := startAWS(t)
	client := dynalitetest.NewClient(t, s.dynamo)
	table := dynalitetest.NewTable(t, client)
	k = kmstest.NewServer(t)
	k.CreateKey("cloudchain")
	b = dynamodb.New(client, table)
	st = cloudchain.New(b, awskms.New(k.NewClient(), "alias/cloudchain"))
	dir := t.TempDir()
	cfg := writeAWSConfig(t, dir, s.dynamo, table, k.URL(), "[cloudchain]\nauthor_lookup = false\n")
	env = []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg}
	for key, v := range s.env() {
		env = append(env, key+"="+v)
	}
	return env, st, b, k
}

func TestExecFailClosedDynamoDB(t *testing.T) {
	env, st, b, _ := awsStack(t)
	testFailClosed(t, env, st, b)
}

// TestExecThousandSecretsOneKMSCall: a service of 1,000 secrets reaches a
// program in one KMS call.
func TestExecThousandSecretsOneKMSCall(t *testing.T) {
	env, st, _, k := awsStack(t)
	putMany(t, st, "big", 1000, func(i int) string { return fmt.Sprintf("value-%03d'\"$`\n", i) })
	k.ResetCounts()
	began := time.Now()
	out, errOut, code := cchainProcess(t, context.Background(), env, "", "exec", "big", "--", "sh", "-c", `for i in $(seq -w 0 999); do eval "v=\$USER_$i"; printf '%s|' "$v"; done`)
	elapsed := time.Since(began)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var want strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&want, "value-%03d'\"$`\n|", i)
	}
	if out != want.String() {
		t.Errorf("the command saw other values (%d bytes, want %d)", len(out), want.Len())
	}
	if got := k.Counts(); len(got) != 1 || got["Decrypt"] != 1 {
		t.Errorf("KMS requests %v, want one Decrypt", got)
	}
	t.Logf("1,000 secrets reached the command in %v with KMS requests %v", elapsed.Round(time.Millisecond), k.Counts())
}
