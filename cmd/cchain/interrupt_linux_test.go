package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// interruptAt runs cchain with args, sends SIGINT after delay, and returns
// its exit code (130 for a death by SIGINT before the handler was
// installed), its output, and how long it took to exit after the signal.
func interruptAt(t *testing.T, ctx context.Context, env []string, delay time.Duration, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	var took time.Duration
	select {
	case err = <-exited:
	case <-time.After(delay):
		_ = cmd.Process.Signal(syscall.SIGINT)
		start := time.Now()
		err = <-exited
		took = time.Since(start)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), took
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), out.String(), took
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT:
		return 128 + int(syscall.SIGINT), out.String(), took
	}
	t.Fatalf("cchain %v: %v", args, err)
	return 0, "", 0
}

// checkInterrupted fails unless an interrupted run exited 130 (or 0, when
// it finished first) within 5 s of the signal, saying what to do.
func checkInterrupted(t *testing.T, i, code int, out string, took time.Duration) {
	t.Helper()
	switch {
	case code != exitInterrupted && code != exitOK:
		t.Fatalf("iteration %d: exit %d: %s", i, code, out)
	case took > 5*time.Second:
		t.Fatalf("iteration %d: exit took %v after SIGINT", i, took)
	case code == exitInterrupted && out != "" && !strings.Contains(out, "again") && !strings.Contains(out, "interrupted"):
		t.Fatalf("iteration %d: the message does not say what happened: %q", i, out)
	}
}

// TestInterruptRotateNewServiceKey: SIGINT at random points of `cchain
// rotate --new-service-key`, 12 times: it exits 130 promptly, every secret
// is wholly under one service key version with its whole history, and a
// last run completes.
func TestInterruptRotateNewServiceKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := localProcessEnv(t)
	st := openLocalStore(t, env)
	fillService(t, st, "db", 60)
	want := readAll(t, st, "db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Now()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-service-key", "--dry-run", "db"); code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	span := 3 * time.Since(start)
	codes := map[int]int{}
	for i := range 12 {
		code, out, took := interruptAt(t, ctx, env, time.Duration(rng.Int64N(int64(span))), "rotate", "--new-service-key", "db")
		checkInterrupted(t, i, code, out, took)
		codes[code]++
		sameSecrets(t, readAll(t, st, "db"), want)
	}
	if _, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-service-key", "db"); code != 0 {
		t.Fatalf("the run after the interruptions: exit %d: %s", code, errOut)
	}
	got := readAll(t, st, "db")
	v := sameSecrets(t, got, want)
	for user, vs := range got {
		if vs[0].ServiceKey != v {
			t.Fatalf("%s is under version %d, not %d", user, vs[0].ServiceKey, v)
		}
	}
	t.Logf("exit codes of 12 interrupted runs (within %v): %v", span, codes)
	if codes[exitInterrupted] == 0 {
		t.Fatal("no run was interrupted: the test does not test anything")
	}
}

// TestInterruptImport: SIGINT at random points of an import of 300
// secrets, 10 times, each import with new values: every secret holds
// either its value from before (same versions) or the new one (one version
// more), and a last run imports everything.
func TestInterruptImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := localProcessEnv(t)
	st := openLocalStore(t, env)
	const n = 300
	file := filepath.Join(t.TempDir(), "many.json")
	write := func(tag string) {
		var b strings.Builder
		b.WriteString(`{"db": {`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"user-%03d": "%s-%03d"`, i, tag, i)
		}
		b.WriteString("}}")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	state := func() map[string]keptVersion {
		secrets, err := st.GetService(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]keptVersion{}
		for _, s := range secrets {
			out[s.User] = keptVersion{VersionInfo: s.VersionInfo, Value: string(s.Value)}
		}
		return out
	}
	write("first")
	start := time.Now()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "import", file); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	span := 2 * time.Since(start)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	codes := map[int]int{}
	for i := range 10 {
		before := state()
		tag := fmt.Sprintf("run%02d", i)
		write(tag)
		code, out, took := interruptAt(t, ctx, env, time.Duration(rng.Int64N(int64(span))), "import", file)
		checkInterrupted(t, i, code, out, took)
		codes[code]++
		landed := 0
		for user, now := range state() {
			was := before[user]
			switch {
			case now.Value == was.Value && now.Version == was.Version:
			case now.Value == fmt.Sprintf("%s-%s", tag, strings.TrimPrefix(user, "user-")) && now.Version == was.Version+1:
				landed++
			default:
				t.Fatalf("iteration %d: %s holds %q in version %d (before: %q in %d)", i, user, now.Value, now.Version, was.Value, was.Version)
			}
		}
		if code == exitOK && landed != n {
			t.Fatalf("iteration %d: exit 0 but %d of %d secrets were written", i, landed, n)
		}
		t.Logf("iteration %d: exit %d, %d of %d secrets written", i, code, landed, n)
	}
	if _, errOut, code := cchainProcess(t, ctx, env, "", "import", file); code != 0 {
		t.Fatalf("the import after the interruptions: exit %d: %s", code, errOut)
	}
	for user, now := range state() {
		if now.Value != fmt.Sprintf("run09-%s", strings.TrimPrefix(user, "user-")) {
			t.Fatalf("%s holds %q after the last import", user, now.Value)
		}
	}
	t.Logf("exit codes of 10 interrupted imports (within %v): %v", span, codes)
	if codes[exitInterrupted] == 0 {
		t.Fatal("no import was interrupted: the test does not test anything")
	}
}

// TestInterruptRotateKMSKey: SIGINT at random points of `cchain rotate
// --kms-key` over 12 services on dynalite, 10 times, alternating between
// two KMS keys: every service's key ring is wholly under one of them, every
// secret reads with both keys reachable, and a last run moves everything,
// after which the new key alone reads every secret.
func TestInterruptRotateKMSKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startAWS(t)
	client := dynalitetest.NewClient(t, s.dynamo)
	table := dynalitetest.NewTable(t, client)
	k := kmstest.NewServer(t)
	k.CreateKey("cloudchain")
	next := k.CreateKey("next")
	b := dynamodb.New(client, table)
	both := cloudchain.New(b, awskms.New(k.NewClient(), "alias/cloudchain", awskms.WithDecryptKeys(next)))
	dir := t.TempDir()
	cfg := writeAWSConfig(t, dir, s.dynamo, table, k.URL(), "[cloudchain]\nauthor_lookup = false\n")
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg, "CLOUDCHAIN_DECRYPT_KEYS=" + next}
	for key, v := range s.env() {
		env = append(env, key+"="+v)
	}
	var services []string
	for i := range 12 {
		svc := fmt.Sprintf("svc%02d", i)
		services = append(services, svc)
		putMany(t, both, svc, 3, func(j int) string { return fmt.Sprintf("%s-%d", svc, j) })
	}
	start := time.Now()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--kms-key", "alias/cloudchain"); code != 0 {
		t.Fatalf("rotate --kms-key: exit %d: %s", code, errOut)
	}
	span := 2 * time.Since(start)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	codes := map[int]int{}
	for i := range 10 {
		to := []string{"alias/next", "alias/cloudchain"}[i%2]
		code, out, took := interruptAt(t, ctx, env, time.Duration(rng.Int64N(int64(span))), "rotate", "--kms-key", to)
		checkInterrupted(t, i, code, out, took)
		codes[code]++
		for _, svc := range services {
			secrets, err := both.GetService(ctx, svc)
			if err != nil || len(secrets) != 3 {
				t.Fatalf("iteration %d: %s: %d secrets, %v", i, svc, len(secrets), err)
			}
		}
	}
	if _, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--kms-key", "alias/next"); code != 0 {
		t.Fatalf("the run after the interruptions: exit %d: %s", code, errOut)
	}
	only := cloudchain.New(b, awskms.New(k.NewClient(), "alias/next"))
	for _, svc := range services {
		secrets, err := only.GetService(ctx, svc)
		if err != nil || len(secrets) != 3 || string(secrets[0].Value) != svc+"-0" {
			t.Fatalf("%s with the new key alone: %d secrets, %v", svc, len(secrets), err)
		}
	}
	t.Logf("exit codes of 10 interrupted runs (within %v): %v", span, codes)
	if codes[exitInterrupted] == 0 {
		t.Fatal("no run was interrupted: the test does not test anything")
	}
}
