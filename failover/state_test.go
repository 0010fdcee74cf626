package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/failover"
)

// clock is a fake clock shared by the "processes" of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// process is what one cchain process builds: its own backends over the
// same regions, and a Backend with the state file.
type process struct {
	primary, replica *region
	b                *failover.Backend
}

func newProcess(path string, c *clock, primaryEndpoint string) *process {
	p := &process{primary: newRegion(), replica: newRegion()}
	p.b = failover.New([]failover.Region{
		{Name: "us-east-1", Endpoint: primaryEndpoint, Backend: p.primary},
		{Name: "us-west-2", Endpoint: "http://west", Backend: p.replica},
	}, failover.WithStateFile(path), failover.WithClock(c.now))
	return p
}

// load reads one secret and returns how many times each region was asked.
func (p *process) load(t *testing.T) (primary, replica int) {
	t.Helper()
	_, err := p.b.Load(context.Background(), "db", "alice")
	if !errors.Is(err, cloudchain.ErrNotFound) && !errors.As(err, new(*failover.Error)) {
		t.Fatalf("Load: %v", err)
	}
	return p.primary.count("Load"), p.replica.count("Load")
}

func readEntries(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version int              `json:"version"`
		Skipped []map[string]any `json:"skipped"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 {
		t.Fatalf("state file %s is damaged (%v):\n%s", path, err, b)
	}
	return doc.Skipped
}

// TestStateFileAcrossProcesses: a second process skips the region the
// first one recorded, until it answers again or the skip period ends.
func TestStateFileAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache", "regions.json")
	c := newClock()

	first := newProcess(path, c, "http://east")
	first.primary.setFail(downErr)
	if p, r := first.load(t); p != 1 || r != 1 {
		t.Fatalf("first process: primary %d, replica %d calls; want 1 and 1", p, r)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}
	if e := readEntries(t, path); len(e) != 1 || e[0]["service"] != "dynamodb" || e[0]["region"] != "us-east-1" || e[0]["endpoint"] != "http://east" {
		t.Fatalf("state file entries: %v", e)
	}

	c.add(10 * time.Second)
	second := newProcess(path, c, "http://east")
	second.primary.setFail(downErr)
	if p, r := second.load(t); p != 0 || r != 1 {
		t.Fatalf("second process: primary %d, replica %d calls; want 0 and 1", p, r)
	}

	// Another endpoint under the same region name is another region.
	other := newProcess(path, c, "http://elsewhere")
	if p, r := other.load(t); p != 1 || r != 0 {
		t.Fatalf("other endpoint: primary %d, replica %d calls; want 1 and 0", p, r)
	}
	// So is another service.
	keys := failover.NewKeys([]failover.KeyRegion{{Name: "us-east-1", Endpoint: "http://east", Provider: &countingKeys{}}, {Name: "us-west-2", Provider: &countingKeys{}}},
		failover.WithStateFile(path), failover.WithClock(c.now))
	if _, err := keys.Decrypt(context.Background(), "k", nil, nil); err != nil {
		t.Fatal(err)
	}

	// The primary answers again (here: the replica is down too, so it
	// is tried): the next process asks it first.
	third := newProcess(path, c, "http://east")
	third.replica.setFail(downErr)
	if p, r := third.load(t); p != 1 || r != 1 {
		t.Fatalf("third process: primary %d, replica %d calls; want 1 and 1", p, r)
	}
	if e := readEntries(t, path); len(e) != 1 || e[0]["region"] != "us-west-2" {
		t.Fatalf("after the primary answered, the file holds %v; want only us-west-2", e)
	}
	fourth := newProcess(path, c, "http://east")
	if p, r := fourth.load(t); p != 1 || r != 0 {
		t.Fatalf("fourth process: primary %d, replica %d calls; want 1 and 0", p, r)
	}

	// A record expires with the skip period.
	fifth := newProcess(path, c, "http://east")
	fifth.primary.setFail(downErr)
	fifth.load(t)
	c.add(failover.DefaultSkip)
	sixth := newProcess(path, c, "http://east")
	if p, r := sixth.load(t); p != 1 || r != 0 {
		t.Fatalf("after the skip period: primary %d, replica %d calls; want 1 and 0", p, r)
	}
}

// countingKeys is a key provider that answers every Decrypt.
type countingKeys struct {
	mu sync.Mutex
	n  int
}

func (k *countingKeys) GenerateDataKey(context.Context, map[string]string) (*cloudchain.DataKey, error) {
	return nil, errors.ErrUnsupported
}

func (k *countingKeys) Decrypt(context.Context, string, []byte, map[string]string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.n++
	return []byte("k"), nil
}

// TestStateFileNotTrusted: a file that is damaged, writable by others,
// of another format, or that sets a time far ahead is not obeyed beyond
// the skip period; a damaged one is replaced at the next update.
func TestStateFileNotTrusted(t *testing.T) {
	c := newClock()
	entry := func(until time.Time) string {
		return fmt.Sprintf(`{"version": 1, "skipped": [{"service": "dynamodb", "region": "us-east-1", "endpoint": "http://east", "until": %q}]}`, until.Format(time.RFC3339Nano))
	}
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		after   time.Duration // clock moves on by this before the read
		skipped bool
	}{
		{"valid, as a control", entry(c.now().Add(20 * time.Second)), 0o600, 0, true},
		{"valid, read-only", entry(c.now().Add(20 * time.Second)), 0o400, 0, true},
		{"expired", entry(c.now().Add(-time.Second)), 0o600, 0, false},
		{"writable by others", entry(c.now().Add(20 * time.Second)), 0o602, 0, false},
		{"writable by the group", entry(c.now().Add(20 * time.Second)), 0o620, 0, false},
		{"far in the future, within the skip period", entry(c.now().Add(24 * 365 * time.Hour)), 0o600, failover.DefaultSkip - time.Second, true},
		{"far in the future, capped to the skip period", entry(c.now().Add(24 * 365 * time.Hour)), 0o600, failover.DefaultSkip, false},
		{"damaged", entry(c.now().Add(20 * time.Second))[:40], 0o600, 0, false},
		{"another version", strings.Replace(entry(c.now().Add(20*time.Second)), `"version": 1`, `"version": 2`, 1), 0o600, 0, false},
		{"not a regular file", "", os.ModeDir | 0o700, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "regions.json")
			if tc.mode.IsDir() {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			if tc.after > 0 {
				// A first process sees the file at the time it was written.
				newProcess(path, c, "http://east").load(t)
			}
			pc := &clock{t: c.now().Add(tc.after)}
			p := newProcess(path, pc, "http://east")
			want := 1
			if tc.skipped {
				want = 0
			}
			if got, _ := p.load(t); got != want {
				t.Fatalf("primary got %d calls, want %d", got, want)
			}
			if tc.mode.IsDir() {
				return
			}
			// The next failure replaces whatever was there with a good file.
			p.primary.setFail(downErr)
			p.replica.setFail(downErr)
			p.load(t)
			if e := readEntries(t, path); len(e) != 2 {
				t.Fatalf("rewritten file holds %v, want both regions", e)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("rewritten file: %v, %v; want mode 0600", fi, err)
			}
		})
	}
}

// TestStateFileWriteFailureIsSilent: a state file that cannot be written
// never fails a read, and the process still remembers the region itself.
func TestStateFileWriteFailureIsSilent(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProcess(filepath.Join(blocker, "regions.json"), newClock(), "http://east")
	p.primary.setFail(downErr)
	for range 3 {
		if _, err := p.b.Load(context.Background(), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("Load: %v, want the replica's not found", err)
		}
	}
	if n := p.primary.count("Load"); n != 1 {
		t.Fatalf("primary got %d calls, want 1 (remembered within the process)", n)
	}
}

// TestStateFileConcurrentWriters: many "processes" record regions in one
// file at once; none is lost and a reader never sees a damaged file.
func TestStateFileConcurrentWriters(t *testing.T) {
	// Under -race on a loaded machine a writer can wait longer than the
	// second a read gives the lock; this test is about lost updates, so
	// it waits as long as it takes.
	defer failover.SetStateLockWait(time.Minute)()
	path := filepath.Join(t.TempDir(), "regions.json")
	c := newClock()
	const writers, each = 8, 15
	done := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		defer close(readerErr)
		for reads := 0; ; reads++ {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			var doc map[string]any
			if err == nil {
				err = json.Unmarshal(b, &doc)
			}
			if err != nil {
				readerErr <- fmt.Errorf("read %d: %w", reads, err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				down := newRegion()
				down.setFail(downErr)
				b := failover.New([]failover.Region{
					{Name: fmt.Sprintf("r%d-%d", w, i), Endpoint: "http://x", Backend: down},
					{Name: "us-west-2", Backend: newRegion()},
				}, failover.WithStateFile(path), failover.WithClock(c.now))
				_, _ = b.Load(context.Background(), "db", "alice")
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-readerErr; err != nil {
		t.Fatalf("a reader saw a damaged file: %v", err)
	}
	if e := readEntries(t, path); len(e) != writers*each {
		t.Fatalf("the file holds %d entries, want %d", len(e), writers*each)
	}
}
