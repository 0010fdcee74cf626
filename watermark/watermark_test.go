package watermark_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
	"github.com/cloudchain/cloudchain/watermark"
)

func TestObserve(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "hwm.json")
	st := func(ring string, rv, mv int64) cloudchain.ServiceState {
		return cloudchain.ServiceState{Ring: ring, RingVersion: rv, ManifestVersion: mv}
	}
	for _, step := range []struct {
		name    string
		store   string
		state   cloudchain.ServiceState
		refused bool
	}{
		{"first sight", "s1", st("r1", 2, 5), false},
		{"same again", "s1", st("r1", 2, 5), false},
		{"newer manifest", "s1", st("r1", 2, 9), false},
		{"older manifest", "s1", st("r1", 2, 8), true},
		{"older ring", "s1", st("r1", 1, 9), true},
		{"ring made again after a purge", "s1", st("r2", 1, 1), false},
		{"another store is separate", "s2", st("r1", 1, 1), false},
	} {
		// A new File each time: what counts is what is on disk.
		err := watermark.Open(path, step.store).Observe(ctx, "db", step.state)
		var rb *watermark.RollbackError
		if step.refused != (errors.As(err, &rb) && errors.Is(err, cloudchain.ErrAuthentication)) {
			t.Fatalf("%s: err = %v, refused want %v", step.name, err, step.refused)
		}
		if !step.refused && err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("watermark file: %v, %v; want mode 0600", fi, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := watermark.Open(path, "s1").Observe(ctx, "db", st("r2", 1, 1)); err == nil || errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("a damaged file: %v, want a plain error naming it", err)
	}
}

// TestConcurrentProcessesKeepTheNewest: many observers of one file, each
// with its own File (as separate processes have): the file ends at the
// newest state.
func TestConcurrentProcessesKeepTheNewest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hwm.json")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Older states may be refused; that is the point.
			_ = watermark.Open(path, "s").Observe(ctx, "db", cloudchain.ServiceState{Ring: "r", RingVersion: 1, ManifestVersion: int64(i + 1)})
		}()
	}
	wg.Wait()
	err := watermark.Open(path, "s").Observe(ctx, "db", cloudchain.ServiceState{Ring: "r", RingVersion: 1, ManifestVersion: 19})
	if !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("after 20 observers up to 20, 19 was accepted: %v", err)
	}
}

// TestStoreWithWatermark: a whole service put back to an earlier copy reads
// fine without client state, and is refused by a Store with a watermark.
func TestStoreWithWatermark(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	keys := testkeys.New("k")
	path := filepath.Join(t.TempDir(), "hwm.json")
	st := cloudchain.New(b, keys, cloudchain.WithWatermark(watermark.Open(path, "mem")))
	if _, err := st.Put(ctx, "db", "alice", []byte("old")); err != nil {
		t.Fatal(err)
	}
	snapshot := map[string]*cloudchain.Item{}
	for _, u := range []string{"alice", cloudchain.ManifestUser, cloudchain.ServiceKeyUser} {
		it, err := b.Load(ctx, "db", u)
		if err != nil {
			t.Fatal(err)
		}
		snapshot[u] = it
	}
	if _, err := st.Put(ctx, "db", "alice", []byte("new")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", cloudchain.ManifestUser, cloudchain.ServiceKeyUser} {
		cur, err := b.Load(ctx, "db", u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Save(ctx, cur, snapshot[u]); err != nil {
			t.Fatal(err)
		}
	}
	if sec, err := cloudchain.New(b, keys).Get(ctx, "db", "alice"); err != nil || string(sec.Value) != "old" {
		t.Fatalf("without a watermark: %v, %v", sec, err)
	}
	// A new process, same file.
	fresh := cloudchain.New(b, keys, cloudchain.WithWatermark(watermark.Open(path, "mem")))
	_, err := fresh.Get(ctx, "db", "alice")
	var rb *watermark.RollbackError
	if !errors.As(err, &rb) || !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("with a watermark: %v, want a RollbackError", err)
	}
	if _, err := fresh.GetServices(ctx, "db"); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("GetServices with a watermark: %v", err)
	}
}
