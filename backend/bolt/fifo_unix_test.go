//go:build unix

package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
)

// TestFIFOStoreDoesNotHang: a store path that is a named pipe must
// fail (ErrCorrupt, as an empty file or a directory does) within the lock
// timeout, not block a read forever in open(2): the read-only open happens
// before the lock wait, so WithTimeout and ctx do not bound it.
func TestFIFOStoreDoesNotHang(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.db")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	b, err := Open(path, WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.Load(ctx, "db", "alice")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, cloudchain.ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Load of a store that is a named pipe still blocked after 3s (lock timeout 100ms, ctx deadline 1s)")
	}
}
