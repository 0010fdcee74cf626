package local

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestCreateExclusive: the creation used where hard links are not
// available: one creator wins, the file is 0600 and holds the data, a
// second creator finds it and writes nothing.
func TestCreateExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	created, err := createExclusive(path, []byte("first"))
	if err != nil || !created {
		t.Fatalf("first create = %v, %v", created, err)
	}
	created, err = createExclusive(path, []byte("second"))
	if err != nil || created {
		t.Fatalf("second create = %v, %v; want false, nil", created, err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "first" {
		t.Fatalf("file holds %q, %v", b, err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("mode %v, %v", fi.Mode().Perm(), err)
	}
}
