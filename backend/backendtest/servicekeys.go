package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
)

// ringOf loads a service's key ring item.
func ringOf(t *testing.T, b cloudchain.Backend, service string) *cloudchain.Item {
	t.Helper()
	it, err := b.Load(ctxFor(t), service, cloudchain.ServiceKeyUser)
	if err != nil {
		t.Fatalf("loading the key ring of %s: %v", service, err)
	}
	return it
}

// rewrite stores fn's change of the item (service, user) in place.
func rewrite(t *testing.T, b cloudchain.Backend, service, user string, fn func(*cloudchain.Item)) {
	t.Helper()
	it, err := b.Load(ctxFor(t), service, user)
	if err != nil {
		t.Fatal(err)
	}
	next := &cloudchain.Item{Service: service, User: user}
	for _, r := range it.Records {
		c := *r
		c.Ciphertext = bytes.Clone(r.Ciphertext)
		c.Salt = bytes.Clone(r.Salt)
		next.Records = append(next.Records, &c)
	}
	fn(next)
	if _, err := b.Save(ctxFor(t), it, next); err != nil {
		t.Fatalf("rewriting %s/%s: %v", service, user, err)
	}
}

func (s *suite) testServiceKeys(t *testing.T) {
	t.Run("ConcurrentFirstPutsConverge", func(t *testing.T) {
		f := s.newStore(t)
		other := cloudchain.New(f.backend, f.keys)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			st := f.store
			if i%2 == 1 {
				st = other
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := st.Put(ctxFor(t), "fresh", fmt.Sprintf("u%02d", i), []byte(fmt.Sprintf("v%02d", i)))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a concurrent first put failed: %v", err)
			}
		}
		// Revision 2: created once, then its manifest flag set once.
		if ring := ringOf(t, f.backend, "fresh"); ring.Version() != 2 {
			t.Fatalf("the key ring is at revision %d, want 2 (one ring, adopted by every writer, then its manifest flag set)", ring.Version())
		}
		secrets, err := f.store.GetServices(ctxFor(t), "fresh")
		if err != nil || len(secrets) != 16 {
			t.Fatalf("GetServices after concurrent first puts = %d secrets, %v", len(secrets), err)
		}
		for i, sec := range secrets {
			if want := fmt.Sprintf("v%02d", i); string(sec.Value) != want {
				t.Fatalf("secret %d = %q, want %q", i, sec.Value, want)
			}
		}
	})
	t.Run("NeverListed", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "x")
		entries, err := f.store.List(ctxFor(t), "db")
		if err != nil || len(entries) != 1 || entries[0].User != "alice" || entries[0].Auth != cloudchain.AuthVerified {
			t.Fatalf("List = %+v, %v", entries, err)
		}
		if err := cloudchain.ValidateID("db", cloudchain.ServiceKeyUser); !errors.Is(err, cloudchain.ErrInvalidID) {
			t.Fatalf("the reserved name is a valid user: %v", err)
		}
		if _, err := f.store.Get(ctxFor(t), "db", cloudchain.ServiceKeyUser); !errors.Is(err, cloudchain.ErrInvalidID) {
			t.Fatalf("Get of the reserved name: %v", err)
		}
	})
	t.Run("Rotation", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "old-key")
		v, err := f.store.RotateServiceKey(ctxFor(t), "db")
		if err != nil || v != 2 {
			t.Fatalf("RotateServiceKey = %d, %v; want 2", v, err)
		}
		mustPut(t, f.store, "db", "bob", "new-key")
		if sec := mustGet(t, f.store, "db", "bob"); sec.ServiceKey != 2 {
			t.Fatalf("a put after rotation used service key %d, want 2", sec.ServiceKey)
		}
		if sec := mustGet(t, f.store, "db", "alice"); sec.ServiceKey != 1 || string(sec.Value) != "old-key" {
			t.Fatalf("a record under the older key: %+v", sec)
		}
		before := f.keys.decs.Load()
		secrets, err := f.store.GetServices(ctxFor(t), "db")
		if err != nil || len(secrets) != 2 {
			t.Fatalf("GetServices = %d, %v", len(secrets), err)
		}
		if n := f.keys.decs.Load() - before; n != 2 {
			t.Fatalf("reading a service with two key versions in use made %d decrypts, want 2", n)
		}
	})
	t.Run("RingMovedFromAnotherService", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "prod", "alice", "prod-secret")
		mustPut(t, f.store, "dev", "alice", "dev-secret")
		prodRing := ringOf(t, f.backend, "prod")
		rewrite(t, f.backend, "dev", cloudchain.ServiceKeyUser, func(it *cloudchain.Item) { it.Records = prodRing.Records })
		if _, err := f.store.Get(ctxFor(t), "dev", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get with another service's key ring: %v, want ErrAuthentication", err)
		}
	})
	t.Run("RingFlagsAltered", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "x")
		rewrite(t, f.backend, "db", cloudchain.ServiceKeyUser, func(it *cloudchain.Item) { it.Records[0].Ciphertext[4] ^= 1 })
		if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get with an altered key ring: %v, want ErrAuthentication", err)
		}
		if _, err := f.store.Put(ctxFor(t), "db", "alice", []byte("y")); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Put with an altered key ring: %v, want ErrAuthentication", err)
		}
	})
	t.Run("ForgedDeletionMarker", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "v1")
		mustPut(t, f.store, "db", "alice", "v2")
		// Someone with write access to the table pushes an unsealed
		// deletion marker on top.
		rewrite(t, f.backend, "db", "alice", func(it *cloudchain.Item) {
			marker := &cloudchain.Record{Format: cloudchain.FormatV2, Version: 3, Deleted: true, KeyVersion: 1,
				Salt: make([]byte, 32), Nonce: make([]byte, 12), Ciphertext: make([]byte, 16)}
			it.Records = append([]*cloudchain.Record{marker}, it.Records...)
		})
		if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get over a forged deletion marker: %v, want ErrAuthentication", err)
		}
		if _, err := f.store.Undelete(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Undelete of a forged deletion marker: %v, want ErrAuthentication", err)
		}
	})
}

func (s *suite) testLegacyDowngrade(t *testing.T) {
	f := s.newStore(t)
	var mu sync.Mutex
	var notices []cloudchain.Notice
	notify := cloudchain.WithNotices(func(n cloudchain.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n)
	})
	if _, ok := f.keys.KeyProvider.(cloudchain.Encrypter); !ok {
		t.Skip("the key provider cannot write the legacy format")
	}
	legacy := cloudchain.New(f.backend, f.keys.KeyProvider, cloudchain.WithLegacyWrites(true))
	reader := cloudchain.New(f.backend, f.keys, notify)

	// A legacy blob in another service, and a service that never held one.
	if _, err := legacy.Put(ctxFor(t), "other", "x", []byte("other-service-secret")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, f.store, "db", "alice", "db-secret")
	plant := func(service, user string) {
		t.Helper()
		src, err := f.backend.Load(ctxFor(t), "other", "x")
		if err != nil {
			t.Fatal(err)
		}
		rewrite(t, f.backend, service, user, func(it *cloudchain.Item) {
			blob := *src.Current()
			blob.Version = it.Version() + 1
			it.Records = append([]*cloudchain.Record{&blob}, it.Records...)
		})
	}
	plant("db", "alice")
	if sec, err := reader.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("a legacy blob copied into a service that never held one: %v, %v; want ErrAuthentication", sec, err)
	}

	// A service that still holds legacy records keeps reading them after
	// its first put in the current format, with a notice each time.
	if _, err := legacy.Put(ctxFor(t), "app", "old", []byte("python-era")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, f.store, "app", "new", "go-era")
	sec, err := reader.Get(ctxFor(t), "app", "old")
	if err != nil || string(sec.Value) != "python-era" || sec.Auth != cloudchain.AuthUnverified {
		t.Fatalf("a legacy record in a service not yet upgraded: %+v, %v", sec, err)
	}
	mu.Lock()
	if len(notices) != 1 || notices[0].Kind != cloudchain.NoticeLegacyRead || strings.Contains(notices[0].Message, "python-era") {
		t.Fatalf("notices after one legacy read = %+v", notices)
	}
	mu.Unlock()

	// Its ring's flag cannot be turned off by writing to the table.
	rep, err := reader.Upgrade(ctxFor(t), "app")
	if err != nil || rep.Resaved != 1 || !rep.Sealed {
		t.Fatalf("Upgrade = %+v, %v", rep, err)
	}
	if sec := mustGet(t, reader, "app", "old"); sec.Format != "v2" || string(sec.Value) != "python-era" {
		t.Fatalf("after Upgrade: %+v", sec)
	}
	if rep, err := reader.Upgrade(ctxFor(t), "app"); err != nil || rep.Resaved != 0 {
		t.Fatalf("a second Upgrade = %+v, %v; want nothing to do", rep, err)
	}
	plant("app", "new")
	if _, err := reader.Get(ctxFor(t), "app", "new"); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("a legacy blob planted in an upgraded service: %v, want ErrAuthentication", err)
	}
	rewrite(t, f.backend, "app", cloudchain.ServiceKeyUser, func(it *cloudchain.Item) { it.Records[0].Ciphertext[4] &^= 1 })
	if _, err := reader.Get(ctxFor(t), "app", "new"); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("a legacy blob planted after clearing the ring's flag: %v, want ErrAuthentication", err)
	}
}

func (s *suite) testHistoryAuth(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "v1", cloudchain.WithComment("first"))
	mustPut(t, f.store, "db", "alice", "v2")
	if _, err := f.store.Delete(ctxFor(t), "db", "alice"); err != nil {
		t.Fatal(err)
	}
	hist, err := f.store.History(ctxFor(t), "db", "alice")
	if err != nil || len(hist) != 3 {
		t.Fatalf("History = %+v, %v", hist, err)
	}
	for _, h := range hist {
		if h.Auth != cloudchain.AuthVerified {
			t.Fatalf("version %d: auth %q, want verified", h.Version, h.Auth)
		}
	}
	rewrite(t, f.backend, "db", "alice", func(it *cloudchain.Item) { it.Records[2].Comment = "approved by security" })
	hist, err = f.store.History(ctxFor(t), "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if hist[2].Auth != cloudchain.AuthFailed || hist[0].Auth != cloudchain.AuthVerified || hist[1].Auth != cloudchain.AuthVerified {
		t.Fatalf("History after rewriting an old comment: %+v", hist)
	}
	if _, err := f.store.Undelete(ctxFor(t), "db", "alice"); err != nil {
		t.Fatalf("Undelete with a damaged older version: %v", err)
	}
}

func (s *suite) testBulk(t *testing.T) {
	f := s.newStore(t)
	var values []cloudchain.SecretValue
	for i := range 50 {
		values = append(values, cloudchain.SecretValue{User: fmt.Sprintf("u%03d", i), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	res, err := f.store.PutMany(ctxFor(t), "app", values)
	if err != nil || len(res) != 50 {
		t.Fatalf("PutMany = %d results, %v", len(res), err)
	}
	for _, r := range res {
		if r.Status != cloudchain.Created || r.Version != 1 {
			t.Fatalf("first PutMany: %+v", r)
		}
	}
	saves := f.backend.saves.Load()
	res, err = f.store.PutMany(ctxFor(t), "app", values)
	if err != nil || f.backend.saves.Load() != saves {
		t.Fatalf("re-writing the same values: %v, %d writes", err, f.backend.saves.Load()-saves)
	}
	for _, r := range res {
		if r.Status != cloudchain.Unchanged || r.Version != 1 {
			t.Fatalf("re-write: %+v", r)
		}
	}
	values[3].Value = []byte("changed")
	values = append(values, cloudchain.SecretValue{User: "zz-new", Value: nil})
	dry, err := f.store.PutMany(ctxFor(t), "app", values, cloudchain.DryRun())
	if err != nil || f.backend.saves.Load() != saves || dry[3].Status != cloudchain.Updated || dry[50].Status != cloudchain.Created {
		t.Fatalf("dry run: %v, %d writes, %+v %+v", err, f.backend.saves.Load()-saves, dry[3], dry[50])
	}
	res, err = f.store.PutMany(ctxFor(t), "app", values)
	if err != nil || res[3].Status != cloudchain.Updated || res[3].Version != 2 || res[50].Status != cloudchain.Created {
		t.Fatalf("PutMany with one change: %v, %+v %+v", err, res[3], res[50])
	}
	if n := f.backend.saves.Load() - saves; n != 3 {
		t.Fatalf("one changed and one new secret made %d writes, want 3 (two secrets, one manifest)", n)
	}

	// Nothing is written when any value is bad.
	_, err = f.store.PutMany(ctxFor(t), "app", []cloudchain.SecretValue{{User: "ok", Value: []byte("x")}, {User: "bad\x1b", Value: []byte("y")}})
	var be *cloudchain.BulkError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].User != "bad\x1b" || !errors.Is(err, cloudchain.ErrInvalidID) {
		t.Fatalf("PutMany with a bad name: %v", err)
	}
	if _, err := f.store.Get(ctxFor(t), "app", "ok"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("a refused PutMany wrote something: %v", err)
	}

	// A bulk read fails closed and names every failing secret.
	mustPut(t, f.store, "other", "x", "other")
	if _, err := f.store.Delete(ctxFor(t), "app", "u010"); err != nil {
		t.Fatal(err)
	}
	secrets, err := f.store.GetServices(ctxFor(t), "app", "other")
	if err != nil || len(secrets) != 51 || secrets[50].Service != "other" || string(secrets[3].Value) != "changed" {
		t.Fatalf("GetServices = %d secrets, %v", len(secrets), err)
	}
	rewrite(t, f.backend, "app", "u007", func(it *cloudchain.Item) { it.Records[0].Ciphertext[0] ^= 1 })
	rewrite(t, f.backend, "app", "u020", func(it *cloudchain.Item) { it.Records[0].Salt[0] ^= 1 })
	secrets, err = f.store.GetServices(ctxFor(t), "app", "other")
	if secrets != nil || !errors.As(err, &be) || len(be.Failures) != 2 || be.Failures[0].User != "u007" || be.Failures[1].User != "u020" ||
		!errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("GetServices with two tampered secrets = %d secrets, %v", len(secrets), err)
	}
}

func (s *suite) testBulkCounts(t *testing.T) {
	f := s.newStore(t)
	const n = 100
	var values []cloudchain.SecretValue
	for i := range n {
		values = append(values, cloudchain.SecretValue{User: fmt.Sprintf("u%03d", i), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	if _, err := f.store.PutMany(ctxFor(t), "app", values); err != nil {
		t.Fatal(err)
	}
	// n secrets, the key ring, one manifest write, and the ring's manifest flag.
	if g, d, w := f.keys.gens.Load(), f.keys.decs.Load(), f.backend.saves.Load(); g != 1 || d != 0 || w != n+3 {
		t.Fatalf("writing %d secrets into a new service: %d data keys, %d decrypts, %d writes; want 1, 0, %d", n, g, d, w, n+3)
	}
	for i := range values {
		values[i].Value = append(values[i].Value, '!')
	}
	items, saves := f.backend.items.Load(), f.backend.saves.Load()
	if _, err := f.store.PutMany(ctxFor(t), "app", values); err != nil {
		t.Fatal(err)
	}
	if g, d, w, l := f.keys.gens.Load(), f.keys.decs.Load(), f.backend.saves.Load()-saves, f.backend.items.Load()-items; g != 1 || d != 1 || w != n+1 || l != 1 {
		t.Fatalf("rewriting %d secrets: %d key-provider calls, %d writes, %d listings; want 1, %d (and one manifest write), 1", n, g-1+d, w, l, n+1)
	}
	decs, items, reads := f.keys.decs.Load(), f.backend.items.Load(), f.backend.reads()
	secrets, err := f.store.GetServices(ctxFor(t), "app")
	if err != nil || len(secrets) != n {
		t.Fatalf("GetServices = %d, %v", len(secrets), err)
	}
	if d, l, r := f.keys.decs.Load()-decs, f.backend.items.Load()-items, f.backend.reads()-reads; d != 1 || l != 1 || r != 0 {
		t.Fatalf("reading %d secrets: %d decrypts, %d listings, %d reads; want 1, 1, 0", n, d, l, r)
	}
}

// owningKeys is a key provider that says which key ids it owns.
type owningKeys struct {
	cloudchain.KeyProvider
	id string
}

func (o owningKeys) OwnsKey(keyID string) bool { return keyID == o.id }

func (s *suite) testMixedKeys(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "under-key-1")
	replaced := cloudchain.New(f.backend, owningKeys{s.opts.NewKeys(t, "test-key-2"), "test-key-2"})
	if _, err := replaced.Put(ctxFor(t), "db", "alice", []byte("under-key-2")); !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("a put under a replaced key: %v, want ErrWrongKey", err)
	}
	if sec := mustGet(t, f.store, "db", "alice"); sec.Version != 1 {
		t.Fatalf("a refused put wrote version %d", sec.Version)
	}

	// Writes that fail their checks make no key at all.
	fresh := s.newStore(t)
	ctx := ctxFor(t)
	if _, err := fresh.store.Put(ctx, "db", "alice", []byte("x"), cloudchain.IfVersion(3)); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("Put --if-version 3 of a missing secret: %v", err)
	}
	if _, err := fresh.store.Undelete(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Undelete of a missing secret: %v", err)
	}
	if _, err := fresh.store.Rollback(ctx, "db", "alice", 1); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Rollback of a missing secret: %v", err)
	}
	if g, d := fresh.keys.gens.Load(), fresh.keys.decs.Load(); g != 0 || d != 0 {
		t.Fatalf("failed writes made %d data keys and %d decrypts; want none", g, d)
	}
	mustPut(t, fresh.store, "db", "alice", "live")
	if _, err := fresh.store.Undelete(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotDeleted) {
		t.Fatalf("Undelete of a live secret: %v, want ErrNotDeleted", err)
	}
}

func (s *suite) testAuthorTimeout(t *testing.T) {
	f := s.newStore(t)
	var got []cloudchain.Notice
	var mu sync.Mutex
	hang := make(chan struct{})
	defer close(hang)
	st := cloudchain.New(f.backend, f.keys,
		cloudchain.WithAuthor(func(context.Context) (string, error) { <-hang; return "never", nil }),
		cloudchain.WithAuthorTimeout(50*time.Millisecond),
		cloudchain.WithNotices(func(n cloudchain.Notice) { mu.Lock(); got = append(got, n); mu.Unlock() }))
	done := make(chan error, 1)
	go func() { _, err := st.Put(ctxFor(t), "db", "alice", []byte("x")); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a put whose author lookup hangs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a put whose author lookup hangs did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Kind != cloudchain.NoticeAuthorUnknown {
		t.Fatalf("notices = %+v, want one NoticeAuthorUnknown", got)
	}
	if sec := mustGet(t, f.store, "db", "alice"); sec.Author != "" {
		t.Fatalf("author = %q, want none", sec.Author)
	}
}

func (s *suite) testComments(t *testing.T) {
	f := s.newStore(t)
	for _, bad := range []string{"\x1b]0;pwned\x07", "two\nlines", "rtl \u202e override", "zero\u200bwidth", strings.Repeat("x", cloudchain.MaxCommentLen+1), "\xff"} {
		if _, err := f.store.Put(ctxFor(t), "db", "alice", []byte("x"), cloudchain.WithComment(bad)); !errors.Is(err, cloudchain.ErrInvalidID) {
			t.Errorf("comment %q: %v, want ErrInvalidID", bad, err)
		}
	}
	if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("a refused comment wrote something: %v", err)
	}
	mustPut(t, f.store, "db", "alice", "x", cloudchain.WithComment("rotated after the 2026 incident — ticket #42"))
}

// testDamagedSecret: one secret too damaged to decode is named by every
// service-wide operation, never skipped silently and never hiding the rest.
func (s *suite) testDamagedSecret(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "app", "alice", "a")
	mustPut(t, f.store, "app", "carol", "c")
	s.damage(t, f.backend.Backend, "app", "bob", []byte("CCR1 not a record"))
	_, err := f.store.GetServices(ctxFor(t), "app")
	var be *cloudchain.BulkError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].User != "bob" || !errors.Is(err, cloudchain.ErrMalformed) {
		t.Fatalf("GetServices with a damaged secret: %v", err)
	}
	entries, err := f.store.List(ctxFor(t), "app")
	if err != nil || len(entries) != 3 || entries[1].User != "bob" || entries[1].Auth != cloudchain.AuthFailed || entries[0].Auth != cloudchain.AuthVerified {
		t.Fatalf("List with a damaged secret = %+v, %v", entries, err)
	}
	if _, err := f.store.PutMany(ctxFor(t), "app", []cloudchain.SecretValue{{User: "bob", Value: []byte("b")}}); !errors.Is(err, cloudchain.ErrMalformed) {
		t.Fatalf("PutMany over a damaged secret: %v", err)
	}
	if _, err := f.store.Upgrade(ctxFor(t), "app"); !errors.Is(err, cloudchain.ErrMalformed) {
		t.Fatalf("Upgrade with a damaged secret: %v", err)
	}
	if n, err := f.store.PurgeService(ctxFor(t), "app"); err != nil || n != 3 {
		t.Fatalf("PurgeService with a damaged secret = %d, %v", n, err)
	}
	if svcs, err := f.store.Services(ctxFor(t)); err != nil || len(svcs) != 0 {
		t.Fatalf("Services after purging the only service = %q, %v", svcs, err)
	}
}

// pausingKeys blocks the first Decrypt after arm until release is closed,
// so that a test can run another writer in the middle of a put.
type pausingKeys struct {
	cloudchain.KeyProvider
	mu      sync.Mutex
	armed   bool
	paused  chan struct{}
	release chan struct{}
}

func (p *pausingKeys) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.paused, p.release = true, make(chan struct{}), make(chan struct{})
}

func (p *pausingKeys) Decrypt(ctx context.Context, keyID string, ct []byte, encCtx map[string]string) ([]byte, error) {
	p.mu.Lock()
	pause := p.armed
	p.armed = false
	paused, release := p.paused, p.release
	p.mu.Unlock()
	if pause {
		close(paused)
		<-release
	}
	return p.KeyProvider.Decrypt(ctx, keyID, ct, encCtx)
}

// testPurgeReputDuringPut is the ABA race through the Store, made
// deterministic by pausing a put inside its key-provider call: the put has
// read version 1; meanwhile another writer purges the secret and puts it
// again, as version 2 (the rollback manifest marked version 1 purged, and
// version numbers are never reused). The paused put must not overwrite that
// new version (an acknowledged write) or bring purged data back: it re-reads
// and lands as version 3, and the other writer's version 2 stays in history.
func (s *suite) testPurgeReputDuringPut(t *testing.T) {
	f := s.newStore(t)
	keys := &pausingKeys{KeyProvider: f.keys}
	slow := cloudchain.New(f.backend, keys)
	mustPut(t, f.store, "db", "alice", "purged-value")
	keys.arm()
	done := make(chan error, 1)
	go func() { _, err := slow.Put(ctxFor(t), "db", "alice", []byte("slow-value")); done <- err }()
	select {
	case <-keys.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("the put never reached its key-provider call")
	}
	if err := f.store.Purge(ctxFor(t), "db", "alice"); err != nil {
		t.Fatal(err)
	}
	if v := mustPut(t, f.store, "db", "alice", "acknowledged"); v != 2 {
		t.Fatalf("re-put after purge gave version %d, want 2", v)
	}
	close(keys.release)
	if err := <-done; err != nil {
		t.Fatalf("the paused put: %v", err)
	}
	hist, err := f.store.History(ctxFor(t), "db", "alice")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %+v, %v; want 2 versions", hist, err)
	}
	if sec, _ := f.store.GetVersion(ctxFor(t), "db", "alice", 2); sec == nil || string(sec.Value) != "acknowledged" {
		t.Fatalf("version 2 = %v; the acknowledged write was lost", sec)
	}
	if sec := mustGet(t, f.store, "db", "alice"); sec.Version != 3 || string(sec.Value) != "slow-value" {
		t.Fatalf("current = %+v", sec)
	}
}
