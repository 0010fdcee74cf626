package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain/keys/local"
)

// TestRotateMasterKeyPreviousRelease moves a store written by the release
// before service keys, whose records carry their own data key under the
// master key: the old key is kept as a retired key, every version still
// reads, a second run changes nothing, and after upgrade only the earlier
// versions in history need it.
func TestRotateMasterKeyPreviousRelease(t *testing.T) {
	f := newMasterFixture(t)
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"master.key", "secrets.db"} {
		data, err := os.ReadFile(filepath.Join("testdata", "previous-release", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.dataDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// What TestStoreOfThePreviousRelease says the release wrote.
	f.want = map[string][]string{
		"db/alice":  {"hunter2"},
		"db/bob":    {"v1", "v2"},
		"api/token": {"\x00\x01binary\xff"},
		"api/old":   {"gone", ""},
		"web/key":   {"x"},
	}
	f.fill(t, "db", "app") // key rings for db and app, beside the old records
	oldID := f.keyID(t, f.keyPath())
	retired := local.RetiredPath(f.keyPath(), oldID)

	out, err := f.rotate(t, false)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	t.Logf("rotate --new-master-key:\n%s", out)
	if !strings.Contains(out, "kept the retired key "+oldID) || !strings.Contains(out, "4 current and 2 earlier versions of secrets in api, db, web") || !strings.Contains(out, "3 unwraps and 3 wraps to move") || !strings.Contains(out, "run `cchain upgrade`") {
		t.Fatalf("rotate said:\n%s", out)
	}
	if got := f.keyFiles(t); !slices.Equal(got, []string{"master.key", filepath.Base(retired)}) {
		t.Fatalf("key files: %v", got)
	}
	if fi, err := os.Stat(retired); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("retired key: %v, %v", fi, err)
	}
	f.check(t, f.store(t))

	// A second run finishes nothing new: no key-provider wrap, no write.
	storeSum := fileSum(t, filepath.Join(f.dataDir, "secrets.db"))
	out, err = f.rotate(t, false)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "finishing it") || !strings.Contains(out, "0 unwraps and 0 wraps to move") || !strings.Contains(out, "kept the retired key") || fileSum(t, filepath.Join(f.dataDir, "secrets.db")) != storeSum {
		t.Fatalf("second run:\n%s", out)
	}

	// upgrade re-saves the current versions; the earlier ones still need
	// the old key, and the run says how to give them up.
	ctx := context.Background()
	st := f.store(t)
	for _, svc := range []string{"api", "db", "web"} {
		if _, err := st.Upgrade(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	// An upgraded service refuses the release's unauthenticated deletion
	// markers (see TestStoreOfThePreviousRelease): leave that one out.
	f.want["api/old"] = f.want["api/old"][:1]
	out, err = f.rotate(t, false)
	if err != nil {
		t.Fatalf("after upgrade: %v\n%s", err, out)
	}
	if !strings.Contains(out, "kept the retired key "+oldID) || !strings.Contains(out, ": 6 earlier versions of secrets in api, db, web") || !strings.Contains(out, "rm "+retired) {
		t.Fatalf("after upgrade:\n%s", out)
	}
	f.check(t, f.store(t))
}

// moveState names the state of the key files (see keys/local).
func (f *masterFixture) moveState(t *testing.T) string {
	t.Helper()
	next, retired := false, false
	for _, name := range f.keyFiles(t) {
		next = next || strings.HasSuffix(name, ".next")
		retired = retired || strings.Contains(name, ".retired-")
	}
	if _, err := os.Stat(f.keyPath()); err != nil {
		t.Fatalf("the key file is gone: %v", err)
	}
	return map[[2]bool]string{{true, false}: "A", {true, true}: "B", {false, true}: "C", {false, false}: "D"}[[2]bool{next, retired}]
}

// TestRotateMasterKeyKillLoop: `cchain rotate --new-master-key` on a store
// of 30 services is killed (SIGKILL) at random points, 10 times; after each
// kill every version of every secret reads; a last run completes, and then
// everything reads under the new key alone, with no other key file left.
func TestRotateMasterKeyKillLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newMasterFixture(t)
	var services []string
	for i := range 30 {
		services = append(services, fmt.Sprintf("svc%02d", i))
	}
	f.fill(t, services...)
	env := f.processEnv()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// One whole run bounds the random kill points.
	start := time.Now()
	if out, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-master-key"); code != 0 {
		t.Fatalf("first run: exit %d: %s%s", code, out, errOut)
	}
	span := 2 * time.Since(start)
	outcomes := map[string]int{}
	for i := range 10 {
		cmd := exec.CommandContext(ctx, os.Args[0], "rotate", "--new-master-key")
		cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(span)))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-time.After(delay):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		var ee *exec.ExitError
		state := f.moveState(t)
		switch {
		case errors.As(err, &ee) && !ee.Exited():
			outcomes["killed in state "+state]++
		case err != nil:
			t.Fatalf("iteration %d: %v", i, err)
		default:
			outcomes["completed"]++
		}
		f.check(t, f.store(t))
		t.Logf("iteration %d: kill after %v: %v; state %s", i, delay, err, state)
	}
	out, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-master-key")
	if code != 0 {
		t.Fatalf("the run after the kills: exit %d: %s%s", code, out, errOut)
	}
	if got := f.keyFiles(t); !slices.Equal(got, []string{"master.key"}) {
		t.Fatalf("key files after the last run: %v\n%s", got, out)
	}
	f.check(t, f.onlyKeyStore(t))
	t.Logf("10 runs killed at random points within %v: %v", span, outcomes)
	killed := 0
	for k, n := range outcomes {
		if strings.HasPrefix(k, "killed") {
			killed += n
		}
	}
	if killed == 0 {
		t.Fatal("no run was killed: the test does not test anything")
	}
}
