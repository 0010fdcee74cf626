package watermark_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/watermark"
)

// TestWatermarkRefusesFileOthersCanWrite: the high-water mark decides
// whether a service is refused as rolled back, so, like the region state
// file (failover, lockedfile.ReadTrusted), a file that group or others can
// write must not be trusted: here another user planted "seen ring revision
// 99", and every read of db is refused as a rollback (or, planting an empty
// state, a real rollback would go unnoticed).
func TestWatermarkRefusesFileOthersCanWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hwm.json")
	planted := `{"version":1,"stores":{"s1":{"db":{"Ring":"r1","RingVersion":99,"ManifestVersion":99}}}}`
	if err := os.WriteFile(path, []byte(planted), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	err := watermark.Open(path, "s1").Observe(context.Background(), "db",
		cloudchain.ServiceState{Ring: "r1", RingVersion: 2, ManifestVersion: 3})
	var rb *watermark.RollbackError
	if err == nil || errors.As(err, &rb) {
		t.Fatalf("a high-water mark file writable by others (mode 0666) was trusted: err = %v; want it refused as untrusted", err)
	}
}
