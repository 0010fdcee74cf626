//go:build unix

package local

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLoadFIFODoesNotHang: a key file that is a named pipe must be
// refused as "not a regular file" (readKeyFile has that check), not block
// the command forever in open(2) waiting for a writer.
func TestLoadFIFODoesNotHang(t *testing.T) {
	for _, name := range []string{"master.key", "master.key.next", "master.key.retired-0123456789abcdef"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "master.key")
			if name != "master.key" {
				if _, err := Open(key); err != nil {
					t.Fatal(err)
				}
			}
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
				t.Skip(err)
			}
			done := make(chan error, 1)
			go func() {
				var err error
				switch name {
				case "master.key":
					_, err = Load(key)
				case "master.key.next":
					_, err = LoadNext(key)
				default:
					_, err = LoadRetired(key)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrBadKeyFile) {
					t.Fatalf("got %v, want an error wrapping ErrBadKeyFile", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("loading %s (a named pipe) still blocked after 3s: open(2) waits for a writer before the regular-file check runs", name)
			}
		})
	}
}
