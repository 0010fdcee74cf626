package lockedfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestWriteAtomicAndReadTrusted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if _, err := ReadTrusted(path, 100); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadTrusted of a missing file: %v, want fs.ErrNotExist", err)
	}
	if err := WriteAtomic(path, []byte("one"), ".state-*"); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(path, []byte("two"), ".state-*"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if b, err := ReadTrusted(path, 100); err != nil || string(b) != "two" {
		t.Fatalf("ReadTrusted = %q, %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".state-*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
	if _, err := ReadTrusted(path, 2); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("ReadTrusted of a file over the limit: %v, want ErrUntrusted", err)
	}
	if _, err := ReadTrusted(dir, 100); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("ReadTrusted of a directory: %v, want ErrUntrusted", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, mode := range []fs.FileMode{0o620, 0o602, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadTrusted(path, 100); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("ReadTrusted of a file with mode %v: %v, want ErrUntrusted", mode, err)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTrusted(path, 100); err != nil {
		t.Fatalf("a file others can read but not write: %v", err)
	}
}

func TestLockExcludes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock here")
	}
	path := filepath.Join(t.TempDir(), "state.lock")
	unlock, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second Lock while the first is held: %v, want it to wait until its deadline", err)
	}
	unlock()
	unlock2, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatalf("Lock after the first was released: %v", err)
	}
	unlock2()
}
