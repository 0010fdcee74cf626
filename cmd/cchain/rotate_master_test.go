package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/keys/local"
)

// masterFixture is an embedded store in a temporary data directory, and
// every version of every secret written to it.
type masterFixture struct {
	home, dataDir string
	// want maps service/user to its values, oldest first ("" for a
	// deletion marker).
	want map[string][]string
}

func newMasterFixture(t *testing.T) *masterFixture {
	home := t.TempDir()
	return &masterFixture{home: home, dataDir: filepath.Join(home, "data"), want: map[string][]string{}}
}

func (f *masterFixture) keyPath() string { return filepath.Join(f.dataDir, "master.key") }

func (f *masterFixture) lookup(k string) (string, bool) {
	switch k {
	case "HOME":
		return f.home, true
	case "CLOUDCHAIN_DATA_DIR":
		return f.dataDir, true
	}
	return "", false
}

func (f *masterFixture) processEnv() []string {
	return []string{"HOME=" + f.home, "XDG_DATA_HOME=", "CLOUDCHAIN_CONFIG=", "CLOUDCHAIN_DATA_DIR=" + f.dataDir, "CLOUDCHAIN_BACKEND=", "AWS_EC2_METADATA_DISABLED=true"}
}

// store opens the store as cchain does, with the key files as they are.
func (f *masterFixture) store(t *testing.T) *cloudchain.Store {
	t.Helper()
	cfg, err := config.Load(f.lookup, config.Overrides{})
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

// fill writes services with a few secrets each, some with history, one
// deleted, and a second service key version in the last service.
func (f *masterFixture) fill(t *testing.T, services ...string) {
	t.Helper()
	ctx := context.Background()
	st := f.store(t)
	for i, svc := range services {
		for j := range 3 {
			user := fmt.Sprintf("user%d", j)
			for v := range j + 1 {
				value := fmt.Sprintf("%s/%s v%d", svc, user, v+1)
				if _, err := st.Put(ctx, svc, user, []byte(value)); err != nil {
					t.Fatal(err)
				}
				f.want[svc+"/"+user] = append(f.want[svc+"/"+user], value)
			}
		}
		if i == 0 {
			if _, err := st.Delete(ctx, svc, "user0"); err != nil {
				t.Fatal(err)
			}
			f.want[svc+"/user0"] = append(f.want[svc+"/user0"], "")
		}
	}
	last := services[len(services)-1]
	if _, err := st.RotateServiceKey(ctx, last); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, last, "user0", []byte("under version 2")); err != nil {
		t.Fatal(err)
	}
	f.want[last+"/user0"] = append(f.want[last+"/user0"], "under version 2")
}

// check reads every version of every secret written, with st.
func (f *masterFixture) check(t *testing.T, st *cloudchain.Store) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for id, values := range f.want {
		svc, user, _ := strings.Cut(id, "/")
		for i, want := range values {
			sec, err := st.GetVersion(ctx, svc, user, int64(i+1))
			switch {
			case want == "" && errors.Is(err, cloudchain.ErrDeleted):
			case err != nil:
				t.Fatalf("%s version %d: %v", id, i+1, err)
			case string(sec.Value) != want:
				t.Fatalf("%s version %d = %q, want %q", id, i+1, sec.Value, want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing to check")
	}
}

// onlyKeyStore opens the store with the key of the key file alone, not the
// .next or retired ones.
func (f *masterFixture) onlyKeyStore(t *testing.T) *cloudchain.Store {
	t.Helper()
	cfg, err := config.Load(f.lookup, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := local.Load(f.keyPath())
	if err != nil {
		t.Fatal(err)
	}
	st, err := cfg.OpenWithLocalKeys(local.NewSet(p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// keyFiles lists the key files in the data directory.
func (f *masterFixture) keyFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "master.key") {
			out = append(out, e.Name())
		}
	}
	return out
}

func (f *masterFixture) keyID(t *testing.T, path string) string {
	t.Helper()
	p, err := local.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return p.KeyID()
}

// rotate runs runRotateMasterKey in this process.
func (f *masterFixture) rotate(t *testing.T, dryRun bool, services ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, lookup: f.lookup}
	a := &app{env: e, stdout: &stickyWriter{w: &out}, notices: &notices{stderr: &errb}}
	cmd := &cobra.Command{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd.SetContext(ctx)
	err := runRotateMasterKey(ctx, a, cmd, services, dryRun, a.stdout)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestRotateMasterKey moves a store of four services (five service key
// versions) to a new master key: a dry run writes nothing, the move costs
// one unwrap and one wrap per version, every version of every secret reads
// afterwards with the new key alone, and the old key is removed.
func TestRotateMasterKey(t *testing.T) {
	f := newMasterFixture(t)
	f.fill(t, "db", "api", "web", "app")
	oldID := f.keyID(t, f.keyPath())
	storeSum := fileSum(t, filepath.Join(f.dataDir, "secrets.db"))

	out, err := f.rotate(t, true)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "would re-wrap the key rings of 4 of 4 services") || !strings.Contains(out, "remove the old key "+oldID) || !strings.Contains(out, "nothing was written") {
		t.Fatalf("dry run said:\n%s", out)
	}
	if got := f.keyFiles(t); !slices.Equal(got, []string{"master.key"}) || fileSum(t, filepath.Join(f.dataDir, "secrets.db")) != storeSum {
		t.Fatalf("the dry run wrote something: key files %v", got)
	}

	out, err = f.rotate(t, false)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	t.Logf("rotate --new-master-key:\n%s", out)
	newID := f.keyID(t, f.keyPath())
	if newID == oldID {
		t.Fatal("the master key did not change")
	}
	if got := f.keyFiles(t); !slices.Equal(got, []string{"master.key"}) {
		t.Fatalf("key files after the move: %v", got)
	}
	// 5 versions: one unwrap and one wrap each, and one unwrap each to check.
	wantCalls := "key-provider calls: 5 unwraps and 5 wraps to move, 5 unwraps to check"
	if !strings.Contains(out, wantCalls) || !strings.Contains(out, "removed the retired key "+oldID) || !strings.Contains(out, "4 open, 0 do not") {
		t.Fatalf("rotate said:\n%s", out)
	}
	f.check(t, f.store(t))
	f.check(t, f.onlyKeyStore(t)) // with the new key alone
}

// TestRotateMasterKeyResumesFromEveryState builds the files of a move
// interrupted at each of its steps and checks that a run finishes it with
// the key it began with, losing nothing.
func TestRotateMasterKeyResumesFromEveryState(t *testing.T) {
	for _, state := range []string{"A: db moved", "A: every service moved", "B: old key linked as retired", "C: new key renamed over the key file"} {
		t.Run(state, func(t *testing.T) {
			f := newMasterFixture(t)
			f.fill(t, "db", "api", "web", "app")
			oldID := f.keyID(t, f.keyPath())
			moved := []string{"db"}
			if state[0] != 'A' || strings.Contains(state, "every") {
				moved = []string{"api", "app", "db", "web"}
			}
			out, err := f.rotate(t, false, moved...)
			if err != nil || !strings.Contains(out, "without SERVICE to move the others") {
				t.Fatalf("moving %v: %v\n%s", moved, err, out)
			}
			newID := f.keyID(t, local.NextPath(f.keyPath()))
			// A service created during the move gets its key ring under the
			// new key at once.
			if _, err := f.store(t).Put(context.Background(), "late", "user0", []byte("written during the move")); err != nil {
				t.Fatal(err)
			}
			f.want["late/user0"] = []string{"written during the move"}
			if state[0] >= 'B' {
				if err := os.Link(f.keyPath(), local.RetiredPath(f.keyPath(), oldID)); err != nil {
					t.Fatal(err)
				}
			}
			if state[0] >= 'C' {
				if err := os.Rename(local.NextPath(f.keyPath()), f.keyPath()); err != nil {
					t.Fatal(err)
				}
			}
			// Every state reads everything, as the next process sees it.
			f.check(t, f.store(t))
			files, sum := f.keyFiles(t), fileSum(t, filepath.Join(f.dataDir, "secrets.db"))
			out, err = f.rotate(t, true)
			if err != nil || fileSum(t, filepath.Join(f.dataDir, "secrets.db")) != sum || !slices.Equal(f.keyFiles(t), files) || !strings.Contains(out, "nothing was written") {
				t.Fatalf("dry run: %v, key files %v, want %v\n%s", err, f.keyFiles(t), files, out)
			}
			if state[0] == 'A' && !strings.Contains(out, "under way: the move to the master key "+newID) {
				t.Fatalf("dry run of a move under way:\n%s", out)
			}
			out, err = f.rotate(t, false)
			if err != nil {
				t.Fatalf("resuming: %v\n%s", err, out)
			}
			if got := f.keyFiles(t); !slices.Equal(got, []string{"master.key"}) || f.keyID(t, f.keyPath()) != newID {
				t.Fatalf("after resuming: key files %v, key %s, want %s\n%s", got, f.keyID(t, f.keyPath()), newID, out)
			}
			// A resumed move skips the rings already moved: with db moved,
			// api, app (2 versions) and web are left; the service created
			// during the move is under the new key already.
			want := map[bool]string{true: "key-provider calls: 4 unwraps and 4 wraps to move, 6 unwraps to check", false: "key-provider calls: 0 unwraps and 0 wraps to move, 6 unwraps to check"}[state == "A: db moved"]
			if !strings.Contains(out, "removed the retired key "+oldID) || !strings.Contains(out, want) {
				t.Fatalf("resuming said (want %q):\n%s", want, out)
			}
			f.check(t, f.store(t))
			f.check(t, f.onlyKeyStore(t))
		})
	}
}

// TestRotateMasterKeyRefusedForKMS: with DynamoDB and KMS, the flag is a
// usage error that points to --kms-key, before anything is opened.
func TestRotateMasterKeyRefusedForKMS(t *testing.T) {
	f := newMasterFixture(t)
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, lookup: func(k string) (string, bool) {
		switch k {
		case "CLOUDCHAIN_BACKEND":
			return "dynamodb", true
		case "AWS_REGION":
			return "eu-west-1", true
		}
		return f.lookup(k)
	}}
	a := &app{env: e, stdout: &stickyWriter{w: e.stdout}, notices: &notices{stderr: e.stderr}}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	err := runRotateMasterKey(context.Background(), a, cmd, nil, false, a.stdout)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--kms-key") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(f.dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refusal created the data directory: %v", err)
	}
}

// TestRotateMasterKeyRewrapsAStaleRing: a process that loaded the old key
// before a move creates a service under it after the new key took over; the
// run that finishes the move finds the ring by its check under the new key
// alone, re-wraps it, and only then removes the old key.
func TestRotateMasterKeyRewrapsAStaleRing(t *testing.T) {
	ctx := context.Background()
	f := newMasterFixture(t)
	f.fill(t, "db", "api")
	oldID := f.keyID(t, f.keyPath())
	old, err := local.Load(f.keyPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f.lookup, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := cfg.OpenWithLocalKeys(local.NewSet(old))
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if out, err := f.rotate(t, false, "db", "api"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := local.Promote(f.keyPath()); err != nil { // state C
		t.Fatal(err)
	}
	if _, err := stale.Put(ctx, "stale", "user0", []byte("under the old key")); err != nil {
		t.Fatal(err)
	}
	f.want["stale/user0"] = []string{"under the old key"}
	out, err := f.rotate(t, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The stale ring: one failed unwrap under the new key, one unwrap and
	// one wrap to move it, one more unwrap to check it; 3 for the others.
	for _, want := range []string{"finishing it", "removed the retired key " + oldID, "3 open, 0 do not", "key-provider calls: 1 unwraps and 1 wraps to move, 5 unwraps to check"} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in:\n%s", want, out)
		}
	}
	f.check(t, f.onlyKeyStore(t))
}
