package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain/keys/local"
)

// TestStatusShowsKeyMoveAndRetiredKeys: a master key move under way and a
// retired key kept are shown (neither makes the store unreachable), and so
// is the high-water mark file.
func TestStatusShowsKeyMoveAndRetiredKeys(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Backend: BackendLocal, DataDir: dir, LockTimeout: DefaultLockTimeout, HighWaterMark: filepath.Join(dir, "hwm.json")}
	for _, path := range []string{c.LocalKeyPath(), local.NextPath(c.LocalKeyPath())} {
		p, err := local.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	st := c.Status(context.Background())
	var got []string
	for _, chk := range st.Checks {
		got = append(got, chk.Name+": "+chk.Detail)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"key move: a move to the new master key local:", "run `cchain rotate --new-master-key` to finish it", "high-water mark: " + c.HighWaterMark} {
		if !strings.Contains(all, want) {
			t.Errorf("status lacks %q:\n%s", want, all)
		}
	}
	for _, chk := range st.Checks {
		if chk.Name == "key move" && !chk.OK {
			t.Errorf("a key move under way is reported as a failure: %+v", chk)
		}
	}
}
