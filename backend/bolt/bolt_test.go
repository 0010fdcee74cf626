package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/bolt"
	bbolt "go.etcd.io/bbolt"
)

func newBackend(t testing.TB, opts ...bolt.Option) *bolt.Backend {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "data", "secrets.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.RunWithOptions(t, backendtest.Options{Damage: damage, TooLarge: bolt.MaxRecordSize, HistoryDrop: 12 << 20}, func(t *testing.T) cloudchain.Backend { return newBackend(t) })
}

// damage stores an item whose only record is encoded as data, writing the
// bbolt file directly ("CCI1" || uvarint(1) || uvarint(len) || data).
func damage(t *testing.T, b cloudchain.Backend, service, user string, records ...[]byte) {
	t.Helper()
	v := binary.AppendUvarint([]byte("CCI1"), uint64(len(records)))
	for _, data := range records {
		v = binary.AppendUvarint(v, uint64(len(data)))
		v = append(v, data...)
	}
	db, err := bbolt.Open(b.(*bolt.Backend).Path(), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("secrets"))
		if err != nil {
			return err
		}
		return bk.Put([]byte(service+"\x00"+user), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func rec(version int64, size int) *cloudchain.Record {
	return &cloudchain.Record{
		Format:     cloudchain.FormatV1,
		Version:    version,
		Created:    time.Unix(1_800_000_000+version, 0).UTC(),
		Author:     "tester",
		KeyID:      "local:0123456789abcdef",
		Context:    cloudchain.ServiceContext("svc"),
		WrappedKey: bytes.Repeat([]byte{1}, 61),
		Nonce:      bytes.Repeat([]byte{byte(version)}, 12),
		Ciphertext: bytes.Repeat([]byte{byte(version)}, size+16),
	}
}

func item(service, user string, versions ...int64) *cloudchain.Item {
	it := &cloudchain.Item{Service: service, User: user}
	for _, v := range versions {
		it.Records = append(it.Records, rec(v, 32))
	}
	return it
}

func versions(it *cloudchain.Item) []int64 {
	var vs []int64
	for _, r := range it.Records {
		vs = append(vs, r.Version)
	}
	return vs
}

func TestRoundTripAndConflicts(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	if _, err := b.Load(ctx, "s", "u"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load from a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(b.Path())); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a read created the directory")
	}
	if err := b.Remove(ctx, item("s", "u", 1)); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("Remove from a missing file: %v", err)
	}
	if _, err := os.Stat(b.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Remove created the file")
	}

	v1 := item("s", "u", 1)
	if _, err := b.Save(ctx, nil, v1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(b.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", fi.Mode(), err)
	}
	di, err := os.Stat(filepath.Dir(b.Path()))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v), want 0700", di.Mode(), err)
	}

	got, err := b.Load(ctx, "s", "u")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := got.Records[0].MarshalBinary()
	w, _ := v1.Records[0].MarshalBinary()
	if !bytes.Equal(a, w) || got.Service != "s" || got.User != "u" {
		t.Fatalf("loaded %+v", got)
	}

	// Creating it again conflicts.
	_, err = b.Save(ctx, nil, item("s", "u", 1))
	var vc *cloudchain.VersionConflictError
	if !errors.As(err, &vc) || vc.Expected != 0 || vc.Current != 1 || vc.Service != "s" || vc.User != "u" {
		t.Fatalf("second create: %v", err)
	}
	v2 := item("s", "u", 2, 1)
	if _, err := b.Save(ctx, got, v2); err != nil {
		t.Fatal(err)
	}
	// A stale prev conflicts and writes nothing.
	if _, err := b.Save(ctx, got, item("s", "u", 3, 2, 1)); !errors.As(err, &vc) || vc.Expected != 1 || vc.Current != 2 {
		t.Fatalf("stale save: %v", err)
	}
	if got, _ := b.Load(ctx, "s", "u"); !slices.Equal(versions(got), []int64{2, 1}) {
		t.Fatalf("versions %v after a conflict", versions(got))
	}
	if err := b.Remove(ctx, got); !errors.As(err, &vc) || vc.Expected != 1 || vc.Current != 2 {
		t.Fatalf("stale remove: %v", err)
	}
	if err := b.Remove(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "s", "u"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load after Remove: %v", err)
	}

	// Bad input is refused before the file is touched.
	for name, it := range map[string]*cloudchain.Item{
		"no records":    {Service: "s", User: "u"},
		"increasing":    item("s", "u", 1, 2),
		"NUL in name":   item("s\x00x", "u", 1),
		"empty service": item("", "u", 1),
		"version zero":  item("s", "u", 0),
	} {
		if _, err := b.Save(ctx, nil, it); err == nil {
			t.Errorf("%s: Save accepted it", name)
		}
	}
}

func TestListings(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	collect := func() []string {
		var ss []string
		if err := b.Services(ctx, func(s string) error { ss = append(ss, s); return nil }); err != nil {
			t.Fatal(err)
		}
		return ss
	}
	if ss := collect(); len(ss) != 0 {
		t.Fatalf("services of a missing file: %v", ss)
	}
	for _, id := range [][2]string{{"b", "2"}, {"a", "x"}, {"b", "1"}, {"a b", "z"}, {"ab", "y"}, {"a", "w"}, {"b\x01", "q"}} {
		if _, err := b.Save(ctx, nil, item(id[0], id[1], 2, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if ss := collect(); !slices.Equal(ss, []string{"a", "a b", "ab", "b", "b\x01"}) {
		t.Fatalf("services %q", ss)
	}
	for _, history := range []bool{false, true} {
		var users []string
		err := b.Items(ctx, "a", history, func(it *cloudchain.Item) error {
			users = append(users, it.User)
			if it.Service != "a" || it.Version() != 2 || (history && len(it.Records) != 2) || (!history && len(it.Records) != 1) {
				t.Errorf("item %s/%s has versions %v (history %v)", it.Service, it.User, versions(it), history)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(users, []string{"w", "x"}) {
			t.Fatalf("users %q", users)
		}
	}
	// The callbacks may write: the file is not held while they run.
	err := b.Services(ctx, func(s string) error {
		return b.Items(ctx, s, true, func(it *cloudchain.Item) error {
			next := &cloudchain.Item{Service: it.Service, User: it.User, Records: append([]*cloudchain.Record{rec(it.Version()+1, 8)}, it.Records...)}
			_, err := b.Save(ctx, it, next)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, err := b.Load(ctx, "b\x01", "q"); err != nil || !slices.Equal(versions(it), []int64{3, 2, 1}) {
		t.Fatalf("after writing from callbacks: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := b.Services(ctx, func(string) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("callback error: %v after %d calls", err, n)
	}
}

func TestTooLarge(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	big := &cloudchain.Item{Service: "s", User: "u", Records: []*cloudchain.Record{rec(1, bolt.MaxRecordSize)}}
	if _, err := b.Save(ctx, nil, big); !errors.Is(err, cloudchain.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(b.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused Save created the file")
	}
	// History is dropped, oldest first, to keep the item within MaxItemSize.
	const n = 8
	next := &cloudchain.Item{Service: "s", User: "u"}
	for v := int64(n); v >= 1; v-- {
		next.Records = append(next.Records, rec(v, bolt.MaxRecordSize-1024))
	}
	dropped, err := b.Save(ctx, nil, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Records) != n {
		t.Fatalf("Save changed next: %d records, want %d", len(next.Records), n)
	}
	got, err := b.Load(ctx, "s", "u")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) >= n || len(got.Records) < 2 || !slices.Equal(versions(got), versions(next)[:len(got.Records)]) {
		t.Fatalf("stored versions %v, next has %v", versions(got), versions(next))
	}
	if dropped != n-len(got.Records) {
		t.Fatalf("Save reported %d dropped, but stored %d of %d records", dropped, len(got.Records), n)
	}
}

// TestLocked holds the file with bbolt directly and checks that the backend
// gives up after its timeout with ErrLocked.
func TestLocked(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, bolt.WithTimeout(200*time.Millisecond))
	if _, err := b.Save(ctx, nil, item("s", "u", 1)); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(b.Path(), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, op := range map[string]func() error{
		"Load": func() error { _, err := b.Load(ctx, "s", "u"); return err },
		"Save": func() error { _, err := b.Save(ctx, nil, item("s", "v", 1)); return err },
		"Services": func() error {
			return b.Services(ctx, func(string) error { return nil })
		},
	} {
		start := time.Now()
		err := op()
		if !errors.Is(err, cloudchain.ErrLocked) {
			t.Fatalf("%s: got %v, want ErrLocked", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: waited %v", name, d)
		}
		if msg := err.Error(); !bytes.Contains([]byte(msg), []byte(b.Path())) || !bytes.Contains([]byte(msg), []byte("another cchain process")) {
			t.Errorf("%s: message %q", name, msg)
		}
	}
	// A context deadline cuts the wait short too.
	b2, _ := bolt.Open(b.Path())
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b2.Load(cctx, "s", "u"); !errors.Is(err, cloudchain.ErrLocked) {
		t.Fatalf("with a deadline: got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("with a deadline: waited %v", d)
	}
	db.Close()
	if _, err := b.Load(ctx, "s", "u"); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}

// TestLockWaitEndsOnCancel: while another handle holds the file lock, a
// cancelled ctx ends the wait at once (Ctrl-C must not wait out the lock
// timeout), with an error wrapping context.Canceled.
func TestLockWaitEndsOnCancel(t *testing.T) {
	b := newBackend(t, bolt.WithTimeout(30*time.Second))
	if _, err := b.Save(context.Background(), nil, item("s", "u", 1)); err != nil {
		t.Fatal(err)
	}
	prev, err := b.Load(context.Background(), "s", "u")
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(b.Path(), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := b.Load(ctx, "s", "u"); return err }},
		{"LoadBatch", func(ctx context.Context) error { _, err := b.LoadBatch(ctx, "s", []string{"u"}); return err }},
		{"Save", func(ctx context.Context) error { _, err := b.Save(ctx, prev, item("s", "u", 2, 1)); return err }},
		{"Remove", func(ctx context.Context) error { return b.Remove(ctx, prev) }},
		{"Services", func(ctx context.Context) error { return b.Services(ctx, func(string) error { return nil }) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := time.AfterFunc(100*time.Millisecond, cancel)
			defer stop.Stop()
			start := time.Now()
			err := tc.op(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if took > 5*time.Second {
				t.Fatalf("returned after %v; the lock timeout is 30s, cancel came after 100ms", took)
			}
			t.Logf("returned %v after the call began", took.Round(time.Millisecond))
		})
	}
}

// TestEmptyFile: this package never leaves a file of 0 bytes (it creates the
// file under another name and links it into place), so one is damage, for
// reads and writes alike, and not an empty store.
func TestEmptyFile(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	if err := os.MkdirAll(filepath.Dir(b.Path()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.Path(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "s", "u"); !errors.Is(err, cloudchain.ErrCorrupt) || errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load: %v, want ErrCorrupt", err)
	}
	if _, err := b.Save(ctx, nil, item("s", "u", 1)); !errors.Is(err, cloudchain.ErrCorrupt) {
		t.Fatalf("Save: %v, want ErrCorrupt", err)
	}
	if fi, err := os.Stat(b.Path()); err != nil || fi.Size() != 0 {
		t.Fatalf("Save changed the damaged file: %v", err)
	}
	if err := b.Services(ctx, func(string) error { return nil }); !errors.Is(err, cloudchain.ErrCorrupt) {
		t.Fatalf("Services: %v, want ErrCorrupt", err)
	}
}

// TestCreateLeavesNoTempFile checks that the first write creates the file in
// place, mode 0600, with nothing else left in the directory.
func TestCreateLeavesNoTempFile(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	if _, err := b.Save(ctx, nil, item("s", "u", 1)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(b.Path()))
	if err != nil || len(entries) != 1 || entries[0].Name() != filepath.Base(b.Path()) {
		t.Fatalf("directory holds %v, %v; want only the database", entries, err)
	}
	if fi, err := os.Stat(b.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

func TestNotABoltFile(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	os.MkdirAll(filepath.Dir(b.Path()), 0o700)
	junk := bytes.Repeat([]byte("not a database "), 2000)
	if err := os.WriteFile(b.Path(), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "s", "u"); err == nil || errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load: %v", err)
	}
	if _, err := b.Save(ctx, nil, item("s", "u", 1)); err == nil {
		t.Fatal("Save wrote into a file that is not a database")
	}
	if got, _ := os.ReadFile(b.Path()); !bytes.Equal(got, junk) {
		t.Fatal("the file was modified")
	}
}

const crashEnv = "CLOUDCHAIN_BOLT_TEST_CRASH_CHILD"

// TestHelperCrashWriter runs in a child process of TestCrash: it writes new
// versions of a few items as fast as it can until it is killed.
func TestHelperCrashWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as a child process")
	}
	ctx := context.Background()
	b, _ := bolt.Open(path)
	users := []string{"a", "b", "c", "d"}
	for i := 0; ; i++ {
		user := users[i%len(users)]
		cur, err := b.Load(ctx, "crash", user)
		if err != nil && !errors.Is(err, cloudchain.ErrNotFound) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		next := &cloudchain.Item{Service: "crash", User: user, Records: []*cloudchain.Record{rec(cur.Version()+1, rand.IntN(3000))}}
		if cur != nil {
			next.Records = append(next.Records, cur.Records[:min(len(cur.Records), 4)]...)
		}
		if _, err := b.Save(ctx, cur, next); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "secrets.db")
	b, _ := bolt.Open(path, bolt.WithTimeout(5*time.Second))
	last := map[string]int64{}
	deadline := time.Now().Add(2 * time.Second)
	for round := 0; round < 3 || time.Now().Before(deadline); round++ {
		cmd := exec.Command(exe, "-test.run=^TestHelperCrashWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			// Let the first child get going even on a loaded machine, so
			// that the kills below land on a store with data in it.
			for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
				if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
					break
				}
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child exited by itself (%v):\n%s", round, err, stderr.String())
		}
		var users []string
		err = b.Items(ctx, "crash", true, func(it *cloudchain.Item) error {
			users = append(users, it.User)
			vs := versions(it)
			for i := 1; i < len(vs); i++ {
				if vs[i] != vs[i-1]-1 {
					return fmt.Errorf("%s: versions %v are not consecutive", it.User, vs)
				}
			}
			if vs[0] < last[it.User] {
				return fmt.Errorf("%s: version went back from %d to %d", it.User, last[it.User], vs[0])
			}
			last[it.User] = vs[0]
			for _, r := range it.Records {
				if want := rec(r.Version, 0).Nonce; !bytes.Equal(r.Nonce, want) {
					return fmt.Errorf("%s v%d: record content is wrong", it.User, r.Version)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
			// Killed before its first write completed (a slow start under
			// load): nothing was stored, and the backend reads it as empty.
			continue
		}
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: opening with bbolt: %v", round, err)
		}
		err = db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("round %d: bbolt consistency check: %v", round, err)
		}
	}
	total := int64(0)
	for _, v := range last {
		total += v
	}
	t.Logf("%d versions written across the kills: %v", total, last)
	if total == 0 {
		t.Fatal("the child never wrote anything")
	}
}

func BenchmarkBoltSave(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b)
	cur := (*cloudchain.Item)(nil)
	b.ReportAllocs()
	for b.Loop() {
		next := &cloudchain.Item{Service: "svc", User: "user", Records: []*cloudchain.Record{rec(cur.Version()+1, 64)}}
		if cur != nil {
			next.Records = append(next.Records, cur.Records[:min(len(cur.Records), 10)]...)
		}
		if _, err := be.Save(ctx, cur, next); err != nil {
			b.Fatal(err)
		}
		cur = next
	}
}

func BenchmarkBoltLoad(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b)
	next := item("svc", "user", 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	if _, err := be.Save(ctx, nil, next); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if _, err := be.Save(ctx, nil, item("svc", "u"+strconv.Itoa(i), 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Load(ctx, "svc", "user"); err != nil {
			b.Fatal(err)
		}
	}
}
