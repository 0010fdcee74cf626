package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
)

// Store-level tests.

// runStore runs the whole Store on top of the backend.
func (s *suite) runStore(t *testing.T) {
	t.Run("PutGet", s.testPutGet)
	t.Run("BinaryAndEmpty", s.testBinary)
	t.Run("Versions", s.testVersions)
	t.Run("HistoryDepth", s.testDepth)
	t.Run("IfVersion", s.testIfVersion)
	t.Run("ConcurrentWriters", s.testConcurrent)
	t.Run("ConcurrentIfVersion", s.testConcurrentIfVersion)
	t.Run("Rollback", s.testRollback)
	t.Run("DeleteUndelete", s.testDelete)
	t.Run("Purge", s.testPurge)
	t.Run("ServiceOps", s.testServiceOps)
	t.Run("Tamper", s.testTamper)
	t.Run("WrongKey", s.testWrongKey)
	t.Run("RequestCounts", s.testCounts)
	t.Run("ServiceKeys", s.testServiceKeys)
	t.Run("LegacyDowngrade", s.testLegacyDowngrade)
	t.Run("HistoryAuth", s.testHistoryAuth)
	t.Run("Bulk", s.testBulk)
	t.Run("BulkCounts", s.testBulkCounts)
	t.Run("MixedKeys", s.testMixedKeys)
	t.Run("AuthorTimeout", s.testAuthorTimeout)
	t.Run("Comments", s.testComments)
	t.Run("DamagedSecret", s.testDamagedSecret)
	t.Run("PurgeReputDuringPut", s.testPurgeReputDuringPut)
	t.Run("RollbackDetection", s.testRollbackDetection)
}

type counting struct {
	cloudchain.Backend
	loads, saves, batches, items atomic.Int64
}

func (c *counting) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	c.items.Add(1)
	return c.Backend.Items(ctx, service, history, fn)
}

// reads returns how many read round trips of single secrets were made: one
// LoadBatch, or two concurrent Loads where the backend has no LoadBatch.
func (c *counting) reads() int64 {
	if _, ok := c.Backend.(cloudchain.BatchLoader); ok {
		return c.batches.Load() + c.loads.Load()
	}
	return c.loads.Load() / 2
}

func (c *counting) Load(ctx context.Context, s, u string) (*cloudchain.Item, error) {
	c.loads.Add(1)
	return c.Backend.Load(ctx, s, u)
}

func (c *counting) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	c.saves.Add(1)
	return c.Backend.Save(ctx, prev, next)
}

func (c *counting) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	c.batches.Add(1)
	return c.Backend.(cloudchain.BatchLoader).LoadBatch(ctx, service, users)
}

// SaveBoth counts as the two writes it makes in one step, so that the
// request budgets hold for every backend.
func (c *counting) SaveBoth(ctx context.Context, prev1, next1, prev2, next2 *cloudchain.Item) (int, error) {
	ps, ok := c.Backend.(cloudchain.PairSaver)
	if !ok {
		// Tests that hand the counting backend itself to a Store, rather
		// than wrap(): write one, then the other, as a Store would.
		dropped, err := c.Save(ctx, prev1, next1)
		if err != nil {
			return 0, err
		}
		_, err = c.Save(ctx, prev2, next2)
		return dropped, err
	}
	c.saves.Add(2)
	return ps.SaveBoth(ctx, prev1, next1, prev2, next2)
}

func (c *counting) Discard(ctx context.Context, service, user string) error {
	return c.Backend.(cloudchain.Discarder).Discard(ctx, service, user)
}

// wrap returns c as a Backend with exactly the optional interfaces of the
// backend it counts, so that the Store takes the same paths as without it.
func (c *counting) wrap() cloudchain.Backend {
	_, batch := c.Backend.(cloudchain.BatchLoader)
	_, discard := c.Backend.(cloudchain.Discarder)
	_, pair := c.Backend.(cloudchain.PairSaver)
	switch {
	case batch && discard && pair:
		return c
	case batch && discard:
		return struct {
			cloudchain.Backend
			cloudchain.BatchLoader
			cloudchain.Discarder
		}{c, c, c}
	case batch:
		return struct {
			cloudchain.Backend
			cloudchain.BatchLoader
		}{c, c}
	case discard:
		return struct {
			cloudchain.Backend
			cloudchain.Discarder
		}{c, c}
	default:
		return struct{ cloudchain.Backend }{c}
	}
}

type countingKeys struct {
	cloudchain.KeyProvider
	gens, decs atomic.Int64
}

func (c *countingKeys) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	c.gens.Add(1)
	return c.KeyProvider.GenerateDataKey(ctx, encCtx)
}

func (c *countingKeys) Decrypt(ctx context.Context, keyID string, ct []byte, encCtx map[string]string) ([]byte, error) {
	c.decs.Add(1)
	return c.KeyProvider.Decrypt(ctx, keyID, ct, encCtx)
}

type fixture struct {
	store   *cloudchain.Store
	backend *counting
	keys    *countingKeys
	now     atomic.Int64
}

func (s *suite) newStore(t *testing.T, opts ...cloudchain.Option) *fixture {
	f := &fixture{backend: &counting{Backend: s.newBackend(t)}, keys: &countingKeys{KeyProvider: s.opts.NewKeys(t, "test-key-1")}}
	f.now.Store(epoch.UnixNano())
	clock := func() time.Time { return time.Unix(0, f.now.Add(int64(time.Second))) }
	opts = append([]cloudchain.Option{
		cloudchain.WithClock(clock),
		cloudchain.WithAuthor(func(context.Context) (string, error) { return "arn:aws:iam::123456789012:user/tester", nil }),
	}, opts...)
	f.store = cloudchain.New(f.backend.wrap(), f.keys, opts...)
	return f
}

func mustPut(t *testing.T, st *cloudchain.Store, service, user, value string, opts ...cloudchain.PutOption) int64 {
	t.Helper()
	v, err := st.Put(ctxFor(t), service, user, []byte(value), opts...)
	if err != nil {
		t.Fatalf("Put(%s/%s): %v", service, user, err)
	}
	return v
}

func mustGet(t *testing.T, st *cloudchain.Store, service, user string) *cloudchain.Secret {
	t.Helper()
	sec, err := st.Get(ctxFor(t), service, user)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", service, user, err)
	}
	return sec
}

func (s *suite) testPutGet(t *testing.T) {
	f := s.newStore(t)
	if v := mustPut(t, f.store, "db", "alice", "hunter2", cloudchain.WithComment("first")); v != 1 {
		t.Fatalf("first put gave version %d, want 1", v)
	}
	sec := mustGet(t, f.store, "db", "alice")
	if string(sec.Value) != "hunter2" || sec.Version != 1 || sec.Comment != "first" ||
		sec.Author != "arn:aws:iam::123456789012:user/tester" || sec.Format != "v2" || sec.ServiceKey != 1 || sec.Auth != cloudchain.AuthVerified || sec.Size != 7 {
		t.Fatalf("Get = %+v", sec)
	}
	if !sec.Created.Equal(epoch.Add(time.Second)) {
		t.Fatalf("Created = %v, want %v", sec.Created, epoch.Add(time.Second))
	}
	if _, err := f.store.Get(ctxFor(t), "db", "bob"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get of a missing secret: err = %v, want ErrNotFound", err)
	}
	for _, bad := range [][2]string{{"", "alice"}, {"db", ""}, {"db\n", "alice"}, {"db", "a\x00b"}, {"db", "\xff"}} {
		if _, err := f.store.Put(ctxFor(t), bad[0], bad[1], []byte("x")); !errors.Is(err, cloudchain.ErrInvalidID) {
			t.Errorf("Put(%q, %q): err = %v, want ErrInvalidID", bad[0], bad[1], err)
		}
	}
}

func (s *suite) testBinary(t *testing.T) {
	f := s.newStore(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	mustPut(t, f.store, "bin", "all-bytes", string(all))
	if got := mustGet(t, f.store, "bin", "all-bytes").Value; !bytes.Equal(got, all) {
		t.Fatalf("binary secret changed: %x", got)
	}
	mustPut(t, f.store, "bin", "empty", "")
	if got := mustGet(t, f.store, "bin", "empty").Value; len(got) != 0 {
		t.Fatalf("empty secret came back as %q", got)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16) // 64 KiB
	mustPut(t, f.store, "bin", "big", string(big))
	if got := mustGet(t, f.store, "bin", "big").Value; !bytes.Equal(got, big) {
		t.Fatalf("64 KiB secret changed")
	}
}

func (s *suite) testVersions(t *testing.T) {
	f := s.newStore(t)
	for i := 1; i <= 3; i++ {
		if v := mustPut(t, f.store, "db", "alice", fmt.Sprintf("value-%d", i)); v != int64(i) {
			t.Fatalf("put %d gave version %d", i, v)
		}
	}
	if got := string(mustGet(t, f.store, "db", "alice").Value); got != "value-3" {
		t.Fatalf("current = %q", got)
	}
	for i := int64(1); i <= 3; i++ {
		sec, err := f.store.GetVersion(ctxFor(t), "db", "alice", i)
		if err != nil || string(sec.Value) != fmt.Sprintf("value-%d", i) || sec.Version != i {
			t.Fatalf("GetVersion(%d) = %+v, %v", i, sec, err)
		}
	}
	if _, err := f.store.GetVersion(ctxFor(t), "db", "alice", 4); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("GetVersion(4): err = %v, want ErrNotFound", err)
	}
	hist, err := f.store.History(ctxFor(t), "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Version != 3 || hist[2].Version != 1 || hist[0].Size != 7 || !hist[0].Created.After(hist[1].Created) {
		t.Fatalf("History = %+v", hist)
	}
}

func (s *suite) testDepth(t *testing.T) {
	f := s.newStore(t, cloudchain.WithHistoryDepth(3))
	for i := 1; i <= 6; i++ {
		mustPut(t, f.store, "db", "alice", fmt.Sprintf("value-%d", i))
	}
	hist, err := f.store.History(ctxFor(t), "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, h := range hist {
		got = append(got, h.Version)
	}
	if want := []int64{6, 5, 4, 3}; !slices.Equal(got, want) {
		t.Fatalf("kept versions %v, want %v (the oldest go first)", got, want)
	}
	_, err = f.store.GetVersion(ctxFor(t), "db", "alice", 2)
	if !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("GetVersion of a dropped version: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testIfVersion(t *testing.T) {
	f := s.newStore(t)
	if v := mustPut(t, f.store, "db", "alice", "one", cloudchain.IfVersion(0)); v != 1 {
		t.Fatalf("IfVersion(0) on a new secret gave %d", v)
	}
	_, err := f.store.Put(ctxFor(t), "db", "alice", []byte("again"), cloudchain.IfVersion(0))
	var vc *cloudchain.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 1 || vc.Expected != 0 {
		t.Fatalf("IfVersion(0) on an existing secret: err = %v", err)
	}
	mustPut(t, f.store, "db", "alice", "two", cloudchain.IfVersion(1))
	if _, err := f.store.Put(ctxFor(t), "db", "alice", []byte("stale"), cloudchain.IfVersion(1)); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("stale IfVersion: err = %v", err)
	}
	if got := string(mustGet(t, f.store, "db", "alice").Value); got != "two" {
		t.Fatalf("after a failed conditional put the value is %q", got)
	}
}

func (s *suite) testConcurrent(t *testing.T) {
	n := s.opts.Writers
	f := s.newStore(t, cloudchain.WithHistoryDepth(n+5))
	var wg sync.WaitGroup
	versions := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.store.Put(ctxFor(t), "race", "shared", []byte(fmt.Sprintf("writer-%02d", i)))
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			versions[i] = v
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sorted := slices.Sorted(slices.Values(versions))
	for i, v := range sorted {
		if v != int64(i+1) {
			t.Fatalf("versions %v are not 1..%d", sorted, n)
		}
	}
	// Every write landed as its own version, with its own content.
	seen := map[string]bool{}
	for i, v := range versions {
		sec, err := f.store.GetVersion(ctxFor(t), "race", "shared", v)
		if err != nil {
			t.Fatalf("GetVersion(%d): %v", v, err)
		}
		if want := fmt.Sprintf("writer-%02d", i); string(sec.Value) != want {
			t.Fatalf("version %d holds %q, want %q", v, sec.Value, want)
		}
		seen[string(sec.Value)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct values, want %d", len(seen), n)
	}
}

func (s *suite) testConcurrentIfVersion(t *testing.T) {
	n := s.opts.Writers
	f := s.newStore(t)
	mustPut(t, f.store, "race", "cas", "base")
	var wg sync.WaitGroup
	var wins, conflicts atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.store.Put(ctxFor(t), "race", "cas", []byte(fmt.Sprint(i)), cloudchain.IfVersion(1))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, cloudchain.ErrVersionConflict):
				conflicts.Add(1)
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != int64(n-1) {
		t.Fatalf("%d winners and %d conflicts, want 1 and %d", wins.Load(), conflicts.Load(), n-1)
	}
	if v := mustGet(t, f.store, "race", "cas").Version; v != 2 {
		t.Fatalf("version after the race is %d, want 2", v)
	}
}

func (s *suite) testRollback(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "good")
	mustPut(t, f.store, "db", "alice", "bad")
	v, err := f.store.Rollback(ctxFor(t), "db", "alice", 1)
	if err != nil || v != 3 {
		t.Fatalf("Rollback = %d, %v; want 3", v, err)
	}
	sec := mustGet(t, f.store, "db", "alice")
	if string(sec.Value) != "good" || sec.Comment != "rollback to version 1" {
		t.Fatalf("after rollback: %q, comment %q", sec.Value, sec.Comment)
	}
	if hist, _ := f.store.History(ctxFor(t), "db", "alice"); len(hist) != 3 {
		t.Fatalf("rollback rewrote history: %+v", hist)
	}
	if _, err := f.store.Rollback(ctxFor(t), "db", "alice", 9); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Rollback to a missing version: err = %v", err)
	}
	if _, err := f.store.Rollback(ctxFor(t), "db", "nobody", 1); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Rollback of a missing secret: err = %v", err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "v1")
	mustPut(t, f.store, "db", "alice", "v2")
	v, err := f.store.Delete(ctxFor(t), "db", "alice")
	if err != nil || v != 3 {
		t.Fatalf("Delete = %d, %v", v, err)
	}
	_, err = f.store.Get(ctxFor(t), "db", "alice")
	if !errors.Is(err, cloudchain.ErrDeleted) || errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get of a deleted secret: err = %v, want ErrDeleted and not ErrNotFound", err)
	}
	if _, err := f.store.Delete(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrDeleted) {
		t.Fatalf("second Delete: err = %v, want ErrDeleted", err)
	}
	if _, err := f.store.Delete(ctxFor(t), "db", "nobody"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Delete of a missing secret: err = %v, want ErrNotFound", err)
	}
	hist, _ := f.store.History(ctxFor(t), "db", "alice")
	if len(hist) != 3 || !hist[0].Deleted {
		t.Fatalf("history after delete: %+v", hist)
	}
	if sec, err := f.store.GetVersion(ctxFor(t), "db", "alice", 2); err != nil || string(sec.Value) != "v2" {
		t.Fatalf("old version after delete: %v", err)
	}
	v, err = f.store.Undelete(ctxFor(t), "db", "alice")
	if err != nil || v != 4 {
		t.Fatalf("Undelete = %d, %v", v, err)
	}
	if sec := mustGet(t, f.store, "db", "alice"); string(sec.Value) != "v2" || sec.Version != 4 {
		t.Fatalf("after undelete: %q version %d", sec.Value, sec.Version)
	}
	if _, err := f.store.Undelete(ctxFor(t), "db", "alice"); err == nil {
		t.Fatal("Undelete of a live secret succeeded")
	}
	// Listing shows deleted secrets as deleted.
	f.store.Delete(ctxFor(t), "db", "alice")
	mustPut(t, f.store, "db", "bob", "x")
	entries, err := f.store.List(ctxFor(t), "db")
	if err != nil || len(entries) != 2 || !entries[0].Deleted || entries[1].Deleted {
		t.Fatalf("List = %+v, %v", entries, err)
	}
}

func (s *suite) testPurge(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "v1")
	mustPut(t, f.store, "db", "alice", "v2")
	if err := f.store.Purge(ctxFor(t), "db", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get after purge: err = %v, want ErrNotFound", err)
	}
	if _, err := f.store.History(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("History after purge: err = %v, want ErrNotFound", err)
	}
	if err := f.store.Purge(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("second purge: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testServiceOps(t *testing.T) {
	f := s.newStore(t)
	for _, u := range []string{"u1", "u2", "u3"} {
		mustPut(t, f.store, "app", u, "secret-"+u)
	}
	mustPut(t, f.store, "other", "u1", "keep")
	entries, err := f.store.List(ctxFor(t), "app")
	if err != nil || len(entries) != 3 || entries[2].User != "u3" {
		t.Fatalf("List = %+v, %v", entries, err)
	}
	if got := string(mustGet(t, f.store, "app", "u3").Value); got != "secret-u3" {
		t.Fatalf("Get(app/u3) = %q", got)
	}
	svcs, err := f.store.Services(ctxFor(t))
	if err != nil || !slices.Equal(svcs, []string{"app", "other"}) {
		t.Fatalf("Services = %q, %v", svcs, err)
	}
	n, err := f.store.DeleteService(ctxFor(t), "app")
	if err != nil || n != 3 {
		t.Fatalf("DeleteService = %d, %v", n, err)
	}
	entries, err = f.store.List(ctxFor(t), "app")
	if err != nil || len(entries) != 3 || slices.ContainsFunc(entries, func(e cloudchain.Entry) bool { return !e.Deleted }) {
		t.Fatalf("List after DeleteService = %+v, %v", entries, err)
	}
	if _, err := f.store.Undelete(ctxFor(t), "app", "u2"); err != nil {
		t.Fatalf("Undelete after DeleteService: %v", err)
	}
	n, err = f.store.PurgeService(ctxFor(t), "app")
	if err != nil || n != 3 {
		t.Fatalf("PurgeService = %d, %v", n, err)
	}
	svcs, _ = f.store.Services(ctxFor(t))
	if !slices.Equal(svcs, []string{"other"}) {
		t.Fatalf("Services after purge = %q", svcs)
	}
	if got := string(mustGet(t, f.store, "other", "u1").Value); got != "keep" {
		t.Fatalf("another service changed: %q", got)
	}
}

// tamper loads (service, user), lets fn change it, and writes it as (toService, toUser).
func tamper(t *testing.T, b cloudchain.Backend, service, user, toService, toUser string, fn func(*cloudchain.Item)) {
	t.Helper()
	it := mustLoad(t, b, service, user)
	fn(it)
	var prev *cloudchain.Item
	if toService == service && toUser == user {
		prev = mustLoad(t, b, service, user)
	} else if p, err := b.Load(ctxFor(t), toService, toUser); err == nil {
		prev = p
	}
	it.Service, it.User = toService, toUser
	mustSave(t, b, prev, it)
}

func (s *suite) testTamper(t *testing.T) {
	cases := []struct {
		name string
		fn   func(r *cloudchain.Record)
	}{
		{"FlippedCiphertext", func(r *cloudchain.Record) { r.Ciphertext[0] ^= 1 }},
		{"FlippedTag", func(r *cloudchain.Record) { r.Ciphertext[len(r.Ciphertext)-1] ^= 0x80 }},
		{"FlippedNonce", func(r *cloudchain.Record) { r.Nonce[3] ^= 1 }},
		{"FlippedSalt", func(r *cloudchain.Record) { r.Salt[5] ^= 1 }},
		{"OtherServiceKeyVersion", func(r *cloudchain.Record) { r.KeyVersion = 2 }},
		{"MarkedDeleted", func(r *cloudchain.Record) { r.Deleted = true }},
		{"ChangedAuthor", func(r *cloudchain.Record) { r.Author = "someone-else" }},
		{"ChangedComment", func(r *cloudchain.Record) { r.Comment = "innocent" }},
		{"ChangedTime", func(r *cloudchain.Record) { r.Created = r.Created.Add(time.Hour) }},
		{"ChangedVersion", func(r *cloudchain.Record) { r.Version = 7 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.newStore(t)
			mustPut(t, f.store, "db", "alice", "hunter2")
			tamper(t, f.backend, "db", "alice", "db", "alice", func(it *cloudchain.Item) { tc.fn(it.Records[0]) })
			sec, err := f.store.Get(ctxFor(t), "db", "alice")
			if !errors.Is(err, cloudchain.ErrAuthentication) {
				t.Fatalf("Get of a tampered record: %v, %v; want ErrAuthentication", sec, err)
			}
		})
	}
	t.Run("MovedToAnotherUser", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "alice-secret")
		mustPut(t, f.store, "db", "mallory", "mallory-secret")
		tamper(t, f.backend, "db", "alice", "db", "mallory", func(*cloudchain.Item) {})
		if _, err := f.store.Get(ctxFor(t), "db", "mallory"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get of a moved record: err = %v, want ErrAuthentication", err)
		}
	})
	t.Run("MovedToAnotherService", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "prod", "alice", "prod-secret")
		tamper(t, f.backend, "prod", "alice", "dev", "alice", func(*cloudchain.Item) {})
		if _, err := f.store.Get(ctxFor(t), "dev", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get of a record moved across services: err = %v, want ErrAuthentication", err)
		}
	})
	t.Run("OldVersionRolledForward", func(t *testing.T) {
		f := s.newStore(t)
		mustPut(t, f.store, "db", "alice", "old")
		mustPut(t, f.store, "db", "alice", "new")
		tamper(t, f.backend, "db", "alice", "db", "alice", func(it *cloudchain.Item) {
			old := *it.Records[1]
			old.Version = 3
			it.Records = append([]*cloudchain.Record{&old}, it.Records...)
		})
		if _, err := f.store.Get(ctxFor(t), "db", "alice"); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("Get of a replayed old version: err = %v, want ErrAuthentication", err)
		}
	})
}

func (s *suite) testWrongKey(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "hunter2")
	other := cloudchain.New(f.backend, s.opts.NewKeys(t, "test-key-2"))
	_, err := other.Get(ctxFor(t), "db", "alice")
	if !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("Get with another key: err = %v, want ErrWrongKey", err)
	}
}

// testCounts asserts the request budget of single-secret operations.
func (s *suite) testCounts(t *testing.T) {
	f := s.newStore(t)
	check := func(what string, reads, saves, gens, decs int64) {
		t.Helper()
		b, k := f.backend, f.keys
		if b.reads() != reads || b.saves.Load() != saves || k.gens.Load() != gens || k.decs.Load() != decs {
			t.Fatalf("after %s: %d reads, %d saves, %d data keys, %d decrypts; want %d, %d, %d, %d",
				what, b.reads(), b.saves.Load(), k.gens.Load(), k.decs.Load(), reads, saves, gens, decs)
		}
	}
	mustPut(t, f.store, "db", "alice", "one")
	// The first put into a service creates its key ring (one data key, one
	// conditional create, one scan for legacy records, which also gives
	// the first rollback manifest), writes the secret and the manifest, and
	// then sets the ring's manifest flag: four writes, once per service.
	check("the first put", 1, 4, 1, 0)
	if n := f.backend.items.Load(); n != 1 {
		t.Fatalf("the first put made %d listings, want 1 (the legacy scan)", n)
	}
	// Every later write: the secret, then the manifest.
	mustPut(t, f.store, "db", "alice", "two")
	check("a second put", 2, 6, 1, 1)
	mustGet(t, f.store, "db", "alice")
	check("a get", 3, 6, 1, 2)
	mustPut(t, f.store, "db", "bob", "three")
	check("a put of a new user into an existing service", 4, 8, 1, 3)
	if _, err := f.store.Delete(ctxFor(t), "db", "bob"); err != nil {
		t.Fatal(err)
	}
	check("a delete", 5, 10, 1, 4)
	if _, err := f.store.Get(ctxFor(t), "db", "bob"); !errors.Is(err, cloudchain.ErrDeleted) {
		t.Fatalf("Get of a deleted secret: %v", err)
	}
	check("a get of a deleted secret (its marker is authenticated)", 6, 10, 1, 5)
	if n := f.backend.items.Load(); n != 1 {
		t.Fatalf("%d listings, want 1", n)
	}
}
