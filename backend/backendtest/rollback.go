package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain"
)

// copyItem returns a deep copy of the stored item, as an attacker with
// read access would keep it.
func copyItem(t *testing.T, b cloudchain.Backend, service, user string) *cloudchain.Item {
	t.Helper()
	it := mustLoad(t, b, service, user)
	out := &cloudchain.Item{Service: it.Service, User: it.User}
	for _, r := range it.Records {
		c := *r
		c.Ciphertext, c.Salt, c.Nonce = bytes.Clone(r.Ciphertext), bytes.Clone(r.Salt), bytes.Clone(r.Nonce)
		out.Records = append(out.Records, &c)
	}
	return out
}

// putBack writes old over whatever is stored for its key (nothing, or an
// item), as an attacker with write access to the table can.
func putBack(t *testing.T, b cloudchain.Backend, old *cloudchain.Item) {
	t.Helper()
	var prev *cloudchain.Item
	if p, err := b.Load(ctxFor(t), old.Service, old.User); err == nil {
		prev = p
	}
	mustSave(t, b, prev, old)
}

func wantRollback(t *testing.T, what string, err error) *cloudchain.RollbackError {
	t.Helper()
	var rb *cloudchain.RollbackError
	if !errors.As(err, &rb) || !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("%s: err = %v, want a RollbackError (ErrAuthentication)", what, err)
	}
	return rb
}

// memWatermark is a Watermark kept in memory, as the file one keeps it on
// disk (package watermark has its own tests).
type memWatermark struct {
	mu   sync.Mutex
	seen map[string]cloudchain.ServiceState
}

func (w *memWatermark) Observe(_ context.Context, service string, st cloudchain.ServiceState) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok := w.seen[service]
	if ok && old.Ring == st.Ring && (st.RingVersion < old.RingVersion || st.ManifestVersion < old.ManifestVersion) {
		return fmt.Errorf("%w: service %s is older than seen before", cloudchain.ErrAuthentication, service)
	}
	if w.seen == nil {
		w.seen = map[string]cloudchain.ServiceState{}
	}
	w.seen[service] = st
	return nil
}

// failingSaves fails the Save of one reserved item (or Remove of a secret)
// while armed: a crash between the two writes of a put, or of a purge.
type failingSaves struct {
	cloudchain.Backend
	mu     sync.Mutex
	user   string // the user whose Save (or Remove) fails
	remove bool
}

var errCrash = errors.New("simulated crash")

func (f *failingSaves) fails(user string, remove bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.user == user && f.remove == remove
}

func (f *failingSaves) arm(user string, remove bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user, f.remove = user, remove
}

func (f *failingSaves) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	// A key ring's creation always goes through: what fails is its update
	// (the manifest flag).
	if f.fails(next.User, false) && (next.User != cloudchain.ServiceKeyUser || prev != nil) {
		return 0, errCrash
	}
	return f.Backend.Save(ctx, prev, next)
}

func (f *failingSaves) Remove(ctx context.Context, prev *cloudchain.Item) error {
	if f.fails(prev.User, true) {
		return errCrash
	}
	return f.Backend.Remove(ctx, prev)
}

// testRollbackDetection: an older copy of an item put back as the current
// one, a secret removed behind the Store's back, a purged secret put back,
// and a missing or altered manifest are all refused as authentication
// failures; a crash between the writes of a put or a purge never causes a
// false alarm; a whole service put back (row and manifest) is caught by a
// Watermark.
func (s *suite) testRollbackDetection(t *testing.T) {
	t.Run("OlderItemPutBack", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "revoked-password")
		old := copyItem(t, f.backend, "db", "alice")
		mustPut(t, f.store, "db", "alice", "current-password")
		mustPut(t, f.store, "db", "bob", "bob")
		putBack(t, f.backend, old)
		_, err := f.store.Get(ctxFor(t), "db", "alice")
		if rb := wantRollback(t, "Get of a rolled-back secret", err); rb.Found != 1 || rb.Listed != 2 {
			t.Fatalf("RollbackError = %+v", rb)
		}
		if strings.Contains(err.Error(), "password") {
			t.Fatalf("the error shows a secret: %v", err)
		}
		if _, err := f.store.GetVersion(ctxFor(t), "db", "alice", 1); err == nil {
			t.Fatal("GetVersion of a rolled-back secret succeeded")
		}
		if _, err := f.store.History(ctxFor(t), "db", "alice"); err == nil {
			t.Fatal("History of a rolled-back secret succeeded")
		}
		secrets, err := f.store.GetServices(ctxFor(t), "db")
		var be *cloudchain.BulkError
		if secrets != nil || !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].User != "alice" {
			t.Fatalf("GetServices with a rolled-back secret = %d secrets, %v", len(secrets), err)
		}
		// A new value replaces it, numbered past every version written.
		var notices []cloudchain.Notice
		fixed := cloudchain.New(f.backend, f.keys, cloudchain.WithNotices(func(n cloudchain.Notice) { notices = append(notices, n) }))
		if v, err := fixed.Put(ctxFor(t), "db", "alice", []byte("new-password")); err != nil || v != 3 {
			t.Fatalf("Put over a rolled-back secret = %d, %v; want version 3", v, err)
		}
		if len(notices) != 1 || notices[0].Kind != cloudchain.NoticeManifest {
			t.Fatalf("notices = %+v, want one NoticeManifest", notices)
		}
		if got := string(mustGet(t, f.store, "db", "alice").Value); got != "new-password" {
			t.Fatalf("Get after the fix = %q", got)
		}
	})
	t.Run("HistoryPromoted", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "old")
		mustPut(t, f.store, "db", "alice", "new")
		tamper(t, f.backend, "db", "alice", "db", "alice", func(it *cloudchain.Item) { it.Records = it.Records[1:] })
		_, err := f.store.Get(ctxFor(t), "db", "alice")
		wantRollback(t, "Get with the previous version made current", err)
	})
	t.Run("RemovedBehindTheStore", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "a")
		mustPut(t, f.store, "db", "bob", "b")
		if err := f.backend.Remove(ctxFor(t), mustLoad(t, f.backend, "db", "alice")); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.Get(ctxFor(t), "db", "alice")
		if rb := wantRollback(t, "Get of a removed secret", err); rb.Found != 0 {
			t.Fatalf("RollbackError = %+v", rb)
		}
		_, err = f.store.GetServices(ctxFor(t), "db")
		var be *cloudchain.BulkError
		if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].User != "" || !errors.Is(err, cloudchain.ErrAuthentication) ||
			!strings.Contains(err.Error(), "1 secrets that its rollback manifest lists are missing") {
			t.Fatalf("GetServices with a removed secret: %v", err)
		}
		if _, err := f.store.Get(ctxFor(t), "db", "never-existed"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("Get of a secret that never existed: %v, want ErrNotFound", err)
		}
	})
	t.Run("PurgedSecretPutBack", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "revoked-1")
		older := copyItem(t, f.backend, "db", "alice")
		mustPut(t, f.store, "db", "alice", "revoked-2")
		last := copyItem(t, f.backend, "db", "alice")
		if err := f.store.Purge(ctxFor(t), "db", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("Get after purge: %v, want ErrNotFound", err)
		}
		// The very item purged, put back: still purged, never served.
		putBack(t, f.backend, last)
		if sec, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) || !strings.Contains(err.Error(), "purged at version 2") {
			t.Fatalf("Get of the purged item put back = %v, %v; want ErrNotFound", sec, err)
		}
		if secrets, err := f.store.GetServices(ctxFor(t), "db"); err != nil || len(secrets) != 0 {
			t.Fatalf("GetServices with the purged item put back = %d, %v; want none", len(secrets), err)
		}
		// An older copy: a rollback.
		putBack(t, f.backend, older)
		_, err := f.store.Get(ctxFor(t), "db", "alice")
		if rb := wantRollback(t, "Get of an older copy of a purged secret", err); !rb.Purged || rb.Found != 1 || rb.Listed != 2 {
			t.Fatalf("RollbackError = %+v", rb)
		}
		if err := f.store.Purge(ctxFor(t), "db", "alice"); err != nil {
			t.Fatalf("purging it again: %v", err)
		}
		if v := mustPut(t, f.store, "db", "alice", "fresh"); v != 3 {
			t.Fatalf("put after purge = version %d, want 3 (numbers are never reused)", v)
		}
		if hist, err := f.store.History(ctxFor(t), "db", "alice"); err != nil || len(hist) != 1 {
			t.Fatalf("history after purge and put = %+v, %v; want the new version alone", hist, err)
		}
	})
	t.Run("ManifestRemovedOrAltered", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(t *testing.T, b cloudchain.Backend)
		}{
			{"Removed", func(t *testing.T, b cloudchain.Backend) {
				if err := b.Remove(ctxFor(t), mustLoad(t, b, "db", cloudchain.ManifestUser)); err != nil {
					t.Fatal(err)
				}
			}},
			{"FlippedBit", func(t *testing.T, b cloudchain.Backend) {
				rewrite(t, b, "db", cloudchain.ManifestUser, func(it *cloudchain.Item) { it.Records[0].Ciphertext[12] ^= 1 })
			}},
			{"Truncated", func(t *testing.T, b cloudchain.Backend) {
				rewrite(t, b, "db", cloudchain.ManifestUser, func(it *cloudchain.Item) {
					it.Records[0].Ciphertext = it.Records[0].Ciphertext[:len(it.Records[0].Ciphertext)-9]
				})
			}},
			{"FromAnotherService", func(t *testing.T, b cloudchain.Backend) {
				other := copyItem(t, b, "other", cloudchain.ManifestUser)
				other.Service = "db"
				putBack(t, b, other)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := s.newStore(t)
				mustPut(t, f.store, "db", "alice", "a")
				mustPut(t, f.store, "other", "alice", "o")
				tc.fn(t, f.backend)
				if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
					t.Fatalf("Get: %v, want ErrAuthentication", err)
				}
				if _, err := f.store.Put(ctxFor(t), "db", "alice", []byte("b")); !errors.Is(err, cloudchain.ErrAuthentication) {
					t.Fatalf("Put: %v, want ErrAuthentication (never re-sign a manifest that does not verify)", err)
				}
				if _, err := f.store.GetServices(ctxFor(t), "db"); !errors.Is(err, cloudchain.ErrAuthentication) {
					t.Fatalf("GetServices: %v, want ErrAuthentication", err)
				}
			})
		}
	})
	t.Run("ResetManifest", func(t *testing.T) {
		for _, damage := range []string{"Removed", "Garbled"} {
			t.Run(damage, func(t *testing.T) {
				f := s.newStore(t)
				mustPut(t, f.store, "db", "alice", "a1")
				mustPut(t, f.store, "db", "alice", "a2")
				mustPut(t, f.store, "db", "bob", "b1")
				if damage == "Removed" {
					if err := f.backend.Remove(ctxFor(t), mustLoad(t, f.backend, "db", cloudchain.ManifestUser)); err != nil {
						t.Fatal(err)
					}
				} else {
					rewrite(t, f.backend, "db", cloudchain.ManifestUser, func(it *cloudchain.Item) { it.Records[0].Ciphertext = []byte("garbage") })
				}
				if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
					t.Fatalf("Get with the manifest %s: %v", damage, err)
				}
				if n, err := f.store.ResetManifest(ctxFor(t), "db"); err != nil || n != 2 {
					t.Fatalf("ResetManifest = %d, %v; want 2", n, err)
				}
				if got := string(mustGet(t, f.store, "db", "alice").Value); got != "a2" {
					t.Fatalf("Get after the reset = %q", got)
				}
				tamper(t, f.backend, "db", "alice", "db", "alice", func(it *cloudchain.Item) { it.Records = it.Records[1:] })
				_, err := f.store.Get(ctxFor(t), "db", "alice")
				wantRollback(t, "Get of a secret rolled back after the reset", err)
			})
		}
	})
	t.Run("CrashBetweenWrites", func(t *testing.T) {
		f := s.newStore(t)
		fb := &failingSaves{Backend: f.backend.wrap()}
		var notices []cloudchain.Notice
		st := cloudchain.New(fb, f.keys, cloudchain.WithNotices(func(n cloudchain.Notice) { notices = append(notices, n) }))
		// The first put: the ring, the secret and the manifest land, the
		// ring's manifest flag does not.
		fb.arm(cloudchain.ServiceKeyUser, false)
		if v, err := st.Put(ctxFor(t), "db", "alice", []byte("one")); err != nil || v != 1 {
			t.Fatalf("Put with the ring's flag lost = %d, %v", v, err)
		}
		if len(notices) != 1 || notices[0].Kind != cloudchain.NoticeManifest {
			t.Fatalf("notices = %+v, want one NoticeManifest", notices)
		}
		if got := string(mustGet(t, st, "db", "alice").Value); got != "one" {
			t.Fatalf("Get after a lost flag = %q", got)
		}
		fb.arm("", false)
		// Later puts: the secret lands, the manifest write is lost.
		fb.arm(cloudchain.ManifestUser, false)
		notices = nil
		if v, err := st.Put(ctxFor(t), "db", "alice", []byte("two")); err != nil || v != 2 {
			t.Fatalf("Put with the manifest write lost = %d, %v; want 2, nil (the secret landed)", v, err)
		}
		if len(notices) != 1 || notices[0].Kind != cloudchain.NoticeManifest {
			t.Fatalf("notices = %+v, want one NoticeManifest", notices)
		}
		fb.arm("", false)
		if got := string(mustGet(t, st, "db", "alice").Value); got != "two" {
			t.Fatalf("Get after a lost manifest write = %q (a false alarm or a lost write)", got)
		}
		if v := mustPut(t, st, "db", "alice", "three"); v != 3 {
			t.Fatalf("next put = version %d", v)
		}
		// A purge that dies between marking and removing: the secret is
		// purged as far as readers go (not an alarm), and the purge
		// finishes when run again.
		fb.arm("alice", true)
		if err := st.Purge(ctxFor(t), "db", "alice"); err == nil {
			t.Fatal("a purge whose removal failed succeeded")
		}
		fb.arm("", false)
		if _, err := st.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) || errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get after a half-done purge: %v, want ErrNotFound and no alarm", err)
		}
		if err := st.Purge(ctxFor(t), "db", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("Get after purge: %v", err)
		}
	})
	t.Run("FirstWriteAfterUpgrade", func(t *testing.T) {
		// A service whose ring has no manifest flag and no manifest (as a
		// store of the previous release has): the first write makes a
		// manifest that lists every secret the service holds.
		f := s.newStore(t)
		fb := &failingSaves{Backend: f.backend.wrap()}
		old := cloudchain.New(fb, f.keys)
		fb.arm(cloudchain.ServiceKeyUser, false)
		mustPut(t, old, "db", "alice", "a1")
		mustPut(t, old, "db", "alice", "a2")
		mustPut(t, old, "db", "bob", "b1")
		if err := f.backend.Remove(ctxFor(t), mustLoad(t, f.backend, "db", cloudchain.ManifestUser)); err != nil {
			t.Fatal(err)
		}
		if got := string(mustGet(t, f.store, "db", "alice").Value); got != "a2" {
			t.Fatalf("Get with no manifest in force = %q", got)
		}
		mustPut(t, f.store, "db", "carol", "c1")
		if ring := ringOf(t, f.backend, "db"); ring.Version() != 2 {
			t.Fatalf("key ring revision %d, want 2 (its manifest flag set)", ring.Version())
		}
		tamper(t, f.backend, "db", "alice", "db", "alice", func(it *cloudchain.Item) { it.Records = it.Records[1:] })
		_, err := f.store.Get(ctxFor(t), "db", "alice")
		wantRollback(t, "Get of a secret written before the manifest existed, then rolled back", err)
	})
	t.Run("WholeServicePutBack", func(t *testing.T) {
		w := &memWatermark{}
		f := s.newStore(t, cloudchain.WithWatermark(w))
		mustPut(t, f.store, "db", "alice", "old")
		oldRow := copyItem(t, f.backend, "db", "alice")
		oldManifest := copyItem(t, f.backend, "db", cloudchain.ManifestUser)
		mustPut(t, f.store, "db", "alice", "new")
		mustGet(t, f.store, "db", "alice")
		putBack(t, f.backend, oldRow)
		putBack(t, f.backend, oldManifest)
		// Without client-side state, a consistent older copy of the whole
		// service cannot be told from the real thing.
		plain := cloudchain.New(f.backend, f.keys)
		if got := string(mustGet(t, plain, "db", "alice").Value); got != "old" {
			t.Fatalf("without a watermark: %q", got)
		}
		if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("with a watermark: %v, want ErrAuthentication", err)
		}
	})
	t.Run("ConcurrentWritersOneManifest", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "seed", "s")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 3 {
					if _, err := f.store.Put(ctxFor(t), "db", fmt.Sprintf("u%d", i), []byte(fmt.Sprint(j))); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a concurrent put: %v", err)
		}
		secrets, err := f.store.GetServices(ctxFor(t), "db")
		if err != nil || len(secrets) != 9 {
			t.Fatalf("GetServices = %d, %v", len(secrets), err)
		}
		// Every secret is listed: putting back version 2 of any is caught.
		for i := range 8 {
			user := fmt.Sprintf("u%d", i)
			tamper(t, f.backend, "db", user, "db", user, func(it *cloudchain.Item) { it.Records = it.Records[1:] })
			_, err := f.store.Get(ctxFor(t), "db", user)
			wantRollback(t, "Get of "+user, err)
		}
	})
}
