package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

// keptVersion is what a reader sees of one kept version of a secret.
type keptVersion struct {
	cloudchain.VersionInfo
	Value string
}

// readAll reads every kept version of every secret of service, values
// included; a version that fails authentication fails the test.
func readAll(t *testing.T, st *cloudchain.Store, service string) map[string][]keptVersion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	entries, err := st.List(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]keptVersion{}
	for _, e := range entries {
		hist, err := st.History(ctx, service, e.User)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if h.Auth == cloudchain.AuthFailed {
				t.Fatalf("%s/%s version %d fails authentication", service, e.User, h.Version)
			}
			v := keptVersion{VersionInfo: h}
			if !h.Deleted {
				sec, err := st.GetVersion(ctx, service, e.User, h.Version)
				if err != nil {
					t.Fatalf("%s/%s version %d: %v", service, e.User, h.Version, err)
				}
				v.Value = string(sec.Value)
			}
			out[e.User] = append(out[e.User], v)
		}
	}
	return out
}

// sameSecrets fails unless got holds exactly want's versions (number,
// value, author, time, comment, deleted flag), and every secret of got is
// wholly under one service key version. It returns the highest version.
func sameSecrets(t *testing.T, got, want map[string][]keptVersion) int64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d secrets, want %d", len(got), len(want))
	}
	var newest int64
	for user, wv := range want {
		gv := got[user]
		if len(gv) != len(wv) {
			t.Fatalf("%s: %d versions, want %d", user, len(gv), len(wv))
		}
		for i, w := range wv {
			g := gv[i]
			if g.Version != w.Version || g.Value != w.Value || !g.Created.Equal(w.Created) || g.Author != w.Author || g.Comment != w.Comment || g.Deleted != w.Deleted {
				t.Fatalf("%s version %d changed:\n got %+v\nwant %+v", user, w.Version, g, w)
			}
			if g.ServiceKey != gv[0].ServiceKey || g.Format != "v2" {
				t.Fatalf("%s is partly re-encrypted: version %d under %d, version %d under %d", user, g.Version, g.ServiceKey, gv[0].Version, gv[0].ServiceKey)
			}
		}
		newest = max(newest, gv[0].ServiceKey)
	}
	return newest
}

// fillService writes n secrets with three versions each into service and
// deletes two of them.
func fillService(t *testing.T, st *cloudchain.Store, service string, n int) {
	t.Helper()
	for v := range 3 {
		putMany(t, st, service, n, func(i int) string { return fmt.Sprintf("secret-%03d-version-%d", i, v) })
	}
	for _, u := range []string{"user-000", "user-001"} {
		if _, err := st.Delete(context.Background(), service, u); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRotateKillLoop: `cchain rotate --new-service-key` on a service of 36
// secrets with history is killed (SIGKILL) at random points, 15 times; after
// each kill every secret reads back exactly with its whole history, each
// wholly under one service key version; a last run completes, and then
// everything is under its version.
func TestRotateKillLoop(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		env := localProcessEnv(t)
		testRotateKillLoop(t, env, openLocalStore(t, env))
	})
	t.Run("dynalite", func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("dynalite's output:\n%s", dynalitetest.Logs())
			}
		})
		env, st, _, _ := awsStack(t)
		testRotateKillLoop(t, env, st)
	})
}

func testRotateKillLoop(t *testing.T, env []string, st *cloudchain.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fillService(t, st, "db", 36)
	want := readAll(t, st, "db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// A dry run reads and opens everything, as a run does: its time bounds
	// the random kill points.
	start := time.Now()
	if _, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-service-key", "--dry-run", "db"); code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	span := 3 * time.Since(start)
	outcomes := map[string]int{}
	for i := range 15 {
		cmd := exec.CommandContext(ctx, os.Args[0], "rotate", "--new-service-key", "db")
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
			outcomes["completed before the kill"]++
		case <-time.After(delay):
			_ = cmd.Process.Kill()
			err = <-exited
			var ee *exec.ExitError
			if errors.As(err, &ee) && !ee.Exited() {
				outcomes["killed"]++
			} else {
				outcomes["completed before the kill"]++
			}
		}
		got := readAll(t, st, "db")
		v := sameSecrets(t, got, want)
		t.Logf("iteration %d: kill after %v: %v; newest version in use %d", i, delay, err, v)
	}
	out, errOut, code := cchainProcess(t, ctx, env, "", "rotate", "--new-service-key", "db")
	if code != 0 {
		t.Fatalf("the run after the kills: exit %d: %s", code, errOut)
	}
	got := readAll(t, st, "db")
	v := sameSecrets(t, got, want)
	for user, vs := range got {
		if vs[0].ServiceKey != v {
			t.Fatalf("%s is under version %d, not %d", user, vs[0].ServiceKey, v)
		}
	}
	t.Logf("15 runs killed at random points within %v: %v; the last run: %s", span, outcomes, out)
	if outcomes["killed"] == 0 {
		t.Fatal("no run was killed: the test does not test anything")
	}
}

// TestRotateUsage: the flags that cannot go together, and a plain rotate
// without a service.
func TestRotateUsage(t *testing.T) {
	env := localProcessEnv(t)
	for _, args := range [][]string{
		{"rotate"},
		{"rotate", "--new-master-key", "--new-service-key"},
		{"rotate", "--new-master-key", "--kms-key", "alias/x"},
		{"rotate", "--kms-key", "alias/x", "--to-kms-key", "alias/y"},
	} {
		_, errOut, code := cchainProcess(t, context.Background(), env, "", args...)
		if code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, %q; want %d", args, code, errOut, exitUsage)
		}
	}
}
