package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

func TestLocalKeysLifecycle(t *testing.T) {
	dir := t.TempDir()
	keyPath, storePath := filepath.Join(dir, "master.key"), filepath.Join(dir, "secrets.db")
	ctx := context.Background()

	// Nothing exists: reading creates nothing.
	l := &localKeys{keyPath: keyPath, storePath: storePath}
	if _, err := l.Decrypt(ctx, "local:x", nil, nil); !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("Decrypt with no key: err = %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read created the key: %v", err)
	}
	// The first write creates it.
	if _, err := l.GenerateDataKey(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatal(err)
	}

	// A store without its key is refused, for reads and writes alike.
	if err := os.WriteFile(storePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	l = &localKeys{keyPath: keyPath, storePath: storePath}
	_, err := l.GenerateDataKey(ctx, nil)
	var mk *MissingKeyError
	if !errors.As(err, &mk) || !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("write with the key missing beside a store: err = %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing key was replaced: %v", err)
	}
}

func TestLocalKeysOwnsKeyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	keyPath, storePath := filepath.Join(dir, "data", "master.key"), filepath.Join(dir, "data", "secrets.db")
	ctx := context.Background()
	l := &localKeys{keyPath: keyPath, storePath: storePath}
	if l.OwnsKey("local:0123456789abcdef") || l.OwnsKey("") {
		t.Fatal("a key is owned before there is a key file")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OwnsKey created the data directory: %v", err)
	}
	dk, err := l.GenerateDataKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !l.OwnsKey(dk.KeyID) || l.OwnsKey("local:0123456789abcdef") {
		t.Fatalf("OwnsKey after the first write: own %v", l.OwnsKey(dk.KeyID))
	}
	// A fresh wrapper (the next process) loads the key to answer.
	l2 := &localKeys{keyPath: keyPath, storePath: storePath}
	if !l2.OwnsKey(dk.KeyID) {
		t.Fatal("a new process does not own the key of the file")
	}
	var _ interface{ OwnsKey(string) bool } = l2
}

// moveFixture is a data directory at one of the states of a move to a new
// master key (keys/local): 0 before it, 1 (A) K.next written, 2 (B) the old
// key linked as retired, 3 (C) K.next renamed over K, 4 (D) the retired key
// removed. oldKey and newKey wrap one data key each.
type moveFixture struct {
	keyPath, storePath, newFile string
	oldID, newID                string
	oldDK, newDK                *cloudchain.DataKey
}

func newMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	dir := t.TempDir()
	f := &moveFixture{keyPath: filepath.Join(dir, "data", "master.key"), storePath: filepath.Join(dir, "data", "secrets.db"), newFile: filepath.Join(dir, "side", "new.key")}
	ctx := context.Background()
	for _, k := range []struct {
		path string
		id   *string
		dk   **cloudchain.DataKey
	}{{f.keyPath, &f.oldID, &f.oldDK}, {f.newFile, &f.newID, &f.newDK}} {
		p, err := local.Open(k.path)
		if err != nil {
			t.Fatal(err)
		}
		*k.id = p.KeyID()
		if *k.dk, err = p.GenerateDataKey(ctx, cloudchain.ServiceContext("db")); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	if err := os.WriteFile(f.storePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// step takes the files from state i to state i+1, with the system calls of
// local.CreateNext, local.Promote and local.RemoveRetired.
func (f *moveFixture) step(t *testing.T, i int) {
	t.Helper()
	var err error
	switch i {
	case 0:
		err = os.Link(f.newFile, local.NextPath(f.keyPath))
	case 1:
		err = os.Link(f.keyPath, local.RetiredPath(f.keyPath, f.oldID))
	case 2:
		err = os.Rename(local.NextPath(f.keyPath), f.keyPath)
	case 3:
		err = os.Remove(local.RetiredPath(f.keyPath, f.oldID))
	}
	if err != nil {
		t.Fatalf("step %d: %v", i, err)
	}
}

func (f *moveFixture) opens(ctx context.Context, l *localKeys, dk *cloudchain.DataKey) error {
	got, err := l.Decrypt(ctx, dk.KeyID, dk.Wrapped, cloudchain.ServiceContext("db"))
	if err == nil && string(got) != string(dk.Plaintext) {
		return errors.New("a different key")
	}
	return err
}

// TestLocalKeysDuringAMove: a crash at any step of a move leaves files from
// which a new process opens everything still needed, and wraps new keys
// under the new key as soon as it exists.
func TestLocalKeysDuringAMove(t *testing.T) {
	ctx := context.Background()
	for state, name := range []string{"before", "A next written", "B old linked as retired", "C next renamed over the key", "D retired removed"} {
		t.Run(name, func(t *testing.T) {
			f := newMoveFixture(t)
			for i := range state {
				f.step(t, i)
			}
			l := &localKeys{keyPath: f.keyPath, storePath: f.storePath}
			defer l.Close()
			if err := f.opens(ctx, l, f.oldDK); (err == nil) != (state < 4) || (err != nil && !errors.Is(err, cloudchain.ErrWrongKey)) {
				t.Errorf("a key wrapped under the old master key: err = %v", err)
			}
			if err := f.opens(ctx, l, f.newDK); (err == nil) != (state > 0) {
				t.Errorf("a key wrapped under the new master key: err = %v", err)
			}
			dk, err := l.GenerateDataKey(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: f.oldID, false: f.newID}[state == 0]; dk.KeyID != want {
				t.Errorf("new data key under %s, want %s", dk.KeyID, want)
			}
			if l.OwnsKey(f.newID) != (state > 0) || l.OwnsKey(f.oldID) != (state < 4) {
				t.Errorf("OwnsKey: new %v, old %v", l.OwnsKey(f.newID), l.OwnsKey(f.oldID))
			}
		})
	}
}

// TestLocalKeysReadOrder moves the files on between the reads of one load,
// in every possible way, and checks that the keys read include the new key
// whenever the load began once it existed, and the old key unless it was
// removed (which a move does only once nothing needs it).
func TestLocalKeysReadOrder(t *testing.T) {
	defer func() { afterKeyRead = nil }()
	cases := 0
	for s0 := 0; s0 <= 4; s0++ {
		for s1 := s0; s1 <= 4; s1++ {
			for s2 := s1; s2 <= 4; s2++ {
				f := newMoveFixture(t)
				state := 0
				advance := func(to int) {
					for ; state < to; state++ {
						f.step(t, state)
					}
				}
				advance(s0)
				afterKeyRead = func(step int) { advance([]int{s1, s2}[step]) }
				set, err := loadKeySet(f.keyPath, f.storePath, false)
				afterKeyRead = nil
				if err != nil {
					t.Fatalf("states %d, %d, %d: %v", s0, s1, s2, err)
				}
				if s0 >= 1 && !set.OwnsKey(f.newID) {
					t.Errorf("states %d, %d, %d: the new key was missed", s0, s1, s2)
				}
				if s2 < 4 && !set.OwnsKey(f.oldID) {
					t.Errorf("states %d, %d, %d: the old key was missed", s0, s1, s2)
				}
				set.Close()
				cases++
			}
		}
	}
	if cases != 35 {
		t.Fatalf("%d interleavings, want 35", cases)
	}
}

// TestLocalKeysFollowAMove: a long-lived provider loaded before a move
// opens what the move wraps under the new key, and keeps opening what is
// under the old one.
func TestLocalKeysFollowAMove(t *testing.T) {
	ctx := context.Background()
	f := newMoveFixture(t)
	l := &localKeys{keyPath: f.keyPath, storePath: f.storePath}
	defer l.Close()
	if err := f.opens(ctx, l, f.oldDK); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f.step(t, i)
	}
	for _, dk := range []*cloudchain.DataKey{f.newDK, f.oldDK} {
		if err := f.opens(ctx, l, dk); err != nil {
			t.Fatalf("after the move, a key under %s: %v", dk.KeyID, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.opens(ctx, l, f.newDK); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("Decrypt after Close: %v", err)
	}
}

// TestLocalKeysRefuseBadRetiredKeys: a retired key file that others can
// read, or whose name does not match its key, is refused like the key file.
func TestLocalKeysRefuseBadRetiredKeys(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func(f *moveFixture) error
		want error
	}{
		{"readable by others", func(f *moveFixture) error {
			r := local.RetiredPath(f.keyPath, f.oldID)
			if err := os.Link(f.keyPath, r); err != nil {
				return err
			}
			return os.Chmod(r, 0o644)
		}, local.ErrKeyPermissions},
		{"misnamed", func(f *moveFixture) error {
			return os.Link(f.newFile, local.RetiredPath(f.keyPath, f.oldID))
		}, local.ErrBadKeyFile},
		{"not a key file", func(f *moveFixture) error {
			return os.WriteFile(local.NextPath(f.keyPath), []byte("hello\n"), 0o600)
		}, local.ErrBadKeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMoveFixture(t)
			if err := tc.make(f); err != nil {
				t.Fatal(err)
			}
			l := &localKeys{keyPath: f.keyPath, storePath: f.storePath}
			defer l.Close()
			if err := f.opens(ctx, l, f.oldDK); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
