// Package backendtest is the conformance suite that every cloudchain.Backend
// must pass. A backend's tests call Run with a constructor that returns a
// fresh, empty backend for each subtest:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) cloudchain.Backend { return newEmptyBackend(t) })
//	}
//
// The suite checks the Backend contract directly (conditional writes,
// listings, ordering) and then the whole Store on top of the backend:
// versions, history, rollback, soft delete, purge, check-and-set, concurrent
// writers, tampering and request counts.
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
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// Options tune the suite for slow backends.
type Options struct {
	// Many is the number of secrets the large-listing test writes
	// (default 1100, enough to need more than one DynamoDB page when the
	// backend's page size is small).
	Many int
	// Writers is the number of concurrent writers (default 20).
	Writers int
	// NewKeys returns a key provider for the Store-level tests; each name
	// must give a distinct key, and a record made under one must fail to
	// open under another with ErrWrongKey. By default the suite uses an
	// in-memory provider; pass a real one (KMS) to test the whole stack.
	NewKeys func(t *testing.T, name string) cloudchain.KeyProvider
}

// Run runs the whole suite with default options.
func Run(t *testing.T, newBackend func(t *testing.T) cloudchain.Backend) {
	RunWithOptions(t, Options{}, newBackend)
}

// RunWithOptions runs the whole suite.
func RunWithOptions(t *testing.T, opts Options, newBackend func(t *testing.T) cloudchain.Backend) {
	if opts.Many == 0 {
		opts.Many = 1100
	}
	if opts.Writers == 0 {
		opts.Writers = 20
	}
	if opts.NewKeys == nil {
		opts.NewKeys = func(_ *testing.T, name string) cloudchain.KeyProvider { return testkeys.New(name) }
	}
	s := &suite{opts: opts, newBackend: newBackend}
	t.Run("Backend", func(t *testing.T) {
		t.Run("LoadMissing", s.testLoadMissing)
		t.Run("SaveLoad", s.testSaveLoad)
		t.Run("CreateTwiceConflicts", s.testCreateTwice)
		t.Run("StalePrevConflicts", s.testStalePrev)
		t.Run("RemoveIsConditional", s.testRemove)
		t.Run("PurgeAndReputConflicts", s.testPurgeReput)
		t.Run("ServicesAndItems", s.testListings)
		t.Run("ManyItems", s.testMany)
		t.Run("Discard", s.testDiscard)
	})
	t.Run("Store", func(t *testing.T) {
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
	})
}

type suite struct {
	opts       Options
	newBackend func(t *testing.T) cloudchain.Backend
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func rec(version int64, payload string) *cloudchain.Record {
	return &cloudchain.Record{
		Format:     cloudchain.FormatV1,
		Version:    version,
		Created:    epoch.Add(time.Duration(version) * time.Second),
		Author:     "tester",
		KeyID:      "test-key",
		Context:    map[string]string{"service": "svc"},
		WrappedKey: []byte("wrapped-" + payload),
		Nonce:      bytes.Repeat([]byte{byte(version)}, 12),
		Ciphertext: []byte("ciphertext-" + payload + "-0123456789abcdef"),
	}
}

func item(service, user string, versions ...int64) *cloudchain.Item {
	it := &cloudchain.Item{Service: service, User: user}
	for _, v := range versions {
		it.Records = append(it.Records, rec(v, fmt.Sprint(v)))
	}
	return it
}

func mustSave(t *testing.T, b cloudchain.Backend, prev, next *cloudchain.Item) {
	t.Helper()
	if _, err := b.Save(ctxFor(t), prev, next); err != nil {
		t.Fatalf("Save(%s/%s v%d): %v", next.Service, next.User, next.Version(), err)
	}
}

func mustLoad(t *testing.T, b cloudchain.Backend, service, user string) *cloudchain.Item {
	t.Helper()
	it, err := b.Load(ctxFor(t), service, user)
	if err != nil {
		t.Fatalf("Load(%s/%s): %v", service, user, err)
	}
	return it
}

func sameRecords(t *testing.T, got, want *cloudchain.Item) {
	t.Helper()
	if got.Service != want.Service || got.User != want.User {
		t.Fatalf("item is %s/%s, want %s/%s", got.Service, got.User, want.Service, want.User)
	}
	if len(got.Records) != len(want.Records) {
		t.Fatalf("%d records, want %d", len(got.Records), len(want.Records))
	}
	for i := range want.Records {
		g, _ := got.Records[i].MarshalBinary()
		w, _ := want.Records[i].MarshalBinary()
		if !bytes.Equal(g, w) {
			t.Errorf("record %d differs:\n got %+v\nwant %+v", i, got.Records[i], want.Records[i])
		}
	}
}

func (s *suite) testLoadMissing(t *testing.T) {
	b := s.newBackend(t)
	_, err := b.Load(ctxFor(t), "svc", "nobody")
	if !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load of a missing item: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testSaveLoad(t *testing.T) {
	b := s.newBackend(t)
	first := item("svc", "alice", 1)
	mustSave(t, b, nil, first)
	sameRecords(t, mustLoad(t, b, "svc", "alice"), first)

	loaded := mustLoad(t, b, "svc", "alice")
	second := item("svc", "alice", 2, 1)
	second.Records[0].Comment = "second"
	second.Records[0].Deleted = false
	mustSave(t, b, loaded, second)
	got := mustLoad(t, b, "svc", "alice")
	sameRecords(t, got, second)
	if got.Version() != 2 {
		t.Fatalf("Version() = %d, want 2", got.Version())
	}

	// A deletion marker round-trips too.
	third := item("svc", "alice", 3, 2, 1)
	third.Records[0] = &cloudchain.Record{Format: cloudchain.FormatV1, Version: 3, Created: epoch, Deleted: true}
	mustSave(t, b, got, third)
	sameRecords(t, mustLoad(t, b, "svc", "alice"), third)
}

func (s *suite) testCreateTwice(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	_, err := b.Save(ctxFor(t), nil, item("svc", "alice", 1))
	if !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("second create: err = %v, want ErrVersionConflict", err)
	}
}

func (s *suite) testStalePrev(t *testing.T) {
	b := s.newBackend(t)
	v1 := item("svc", "alice", 1)
	mustSave(t, b, nil, v1)
	loaded := mustLoad(t, b, "svc", "alice")
	v2 := item("svc", "alice", 2, 1)
	mustSave(t, b, loaded, v2)

	// A writer that still holds version 1 must lose, and write nothing.
	other := item("svc", "alice", 2, 1)
	other.Records[0].Comment = "the lost update"
	_, err := b.Save(ctxFor(t), loaded, other)
	if !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("stale write: err = %v, want ErrVersionConflict", err)
	}
	sameRecords(t, mustLoad(t, b, "svc", "alice"), v2)
}

func (s *suite) testRemove(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	stale := mustLoad(t, b, "svc", "alice")
	mustSave(t, b, stale, item("svc", "alice", 2, 1))
	if err := b.Remove(ctxFor(t), stale); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("Remove with a stale item: err = %v, want ErrVersionConflict", err)
	}
	if err := b.Remove(ctxFor(t), mustLoad(t, b, "svc", "alice")); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := b.Load(ctxFor(t), "svc", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load after Remove: err = %v, want ErrNotFound", err)
	}
}

// testPurgeReput is the ABA case: a writer reads version 1, someone removes
// the item and writes a new version 1, and the first writer's Save or Remove
// must still fail, because the item it read is gone.
func (s *suite) testPurgeReput(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	stale := mustLoad(t, b, "svc", "alice")
	if err := b.Remove(ctx, mustLoad(t, b, "svc", "alice")); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// The same version number, with a record that differs in its nonce and
	// ciphertext, as a new put's record would.
	again := item("svc", "alice", 1)
	again.Records[0].Nonce = bytes.Repeat([]byte{0xee}, 12)
	again.Records[0].Ciphertext = []byte("ciphertext-of-the-new-version-1")
	mustSave(t, b, nil, again)

	next := item("svc", "alice", 2, 1)
	next.Records[1] = stale.Records[0]
	if _, err := b.Save(ctx, stale, next); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("Save conditional on the purged version 1: err = %v, want ErrVersionConflict", err)
	}
	if err := b.Remove(ctx, stale); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("Remove conditional on the purged version 1: err = %v, want ErrVersionConflict", err)
	}
	sameRecords(t, mustLoad(t, b, "svc", "alice"), again)

	// The item as it is now can still be written.
	cur := mustLoad(t, b, "svc", "alice")
	next = item("svc", "alice", 2)
	next.Records = append(next.Records, cur.Records[0])
	mustSave(t, b, cur, next)
	sameRecords(t, mustLoad(t, b, "svc", "alice"), next)
}

func (s *suite) testDiscard(t *testing.T) {
	b := s.newBackend(t)
	d, ok := b.(cloudchain.Discarder)
	if !ok {
		t.Skip("the backend is not a Discarder")
	}
	mustSave(t, b, nil, item("svc", "alice", 1))
	mustSave(t, b, nil, item("svc", "bob", 1))
	if err := d.Discard(ctxFor(t), "svc", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctxFor(t), "svc", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load after Discard: err = %v, want ErrNotFound", err)
	}
	if err := d.Discard(ctxFor(t), "svc", "nobody"); err != nil {
		t.Fatalf("Discard of nothing: %v", err)
	}
	mustLoad(t, b, "svc", "bob")
}

func collectServices(t *testing.T, b cloudchain.Backend) []string {
	t.Helper()
	var got []string
	if err := b.Services(ctxFor(t), func(s string) error { got = append(got, s); return nil }); err != nil {
		t.Fatalf("Services: %v", err)
	}
	return got
}

func collectUsers(t *testing.T, b cloudchain.Backend, service string, history bool) ([]string, []*cloudchain.Item) {
	t.Helper()
	var users []string
	var items []*cloudchain.Item
	err := b.Items(ctxFor(t), service, history, func(it *cloudchain.Item) error {
		users = append(users, it.User)
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatalf("Items(%s): %v", service, err)
	}
	return users, items
}

func (s *suite) testListings(t *testing.T) {
	b := s.newBackend(t)
	if got := collectServices(t, b); len(got) != 0 {
		t.Fatalf("empty backend lists services %q", got)
	}
	if users, _ := collectUsers(t, b, "nothing", false); len(users) != 0 {
		t.Fatalf("empty service lists users %q", users)
	}
	// Names that are prefixes of each other, unicode and spaces.
	ids := [][2]string{
		{"db", "bob"}, {"db", "alice"}, {"db", "alice smith"}, {"db prod", "alice"},
		{"dbx", "x"}, {"ümlaut", "ø"}, {"a", "b"}, {"db", "Zed"},
	}
	for _, id := range ids {
		mustSave(t, b, nil, item(id[0], id[1], 1))
	}
	prev := mustLoad(t, b, "db", "bob")
	mustSave(t, b, prev, item("db", "bob", 2, 1))

	wantServices := []string{"a", "db", "db prod", "dbx", "ümlaut"}
	if got := collectServices(t, b); !slices.Equal(got, wantServices) {
		t.Fatalf("Services = %q, want %q", got, wantServices)
	}
	users, items := collectUsers(t, b, "db", true)
	if want := []string{"Zed", "alice", "alice smith", "bob"}; !slices.Equal(users, want) {
		t.Fatalf("Items(db) users = %q, want %q", users, want)
	}
	for _, it := range items {
		if it.Service != "db" {
			t.Errorf("Items(db) returned service %q", it.Service)
		}
		if it.User == "bob" && len(it.Records) != 2 {
			t.Errorf("Items(db, history) gave bob %d records, want 2", len(it.Records))
		}
	}
	_, items = collectUsers(t, b, "db", false)
	for _, it := range items {
		want := int64(1)
		if it.User == "bob" {
			want = 2
		}
		if len(it.Records) == 0 || it.Current().Version != want {
			t.Errorf("Items(db, current only) gave %s current %+v", it.User, it.Current())
		}
	}
	if users, _ := collectUsers(t, b, "d", false); len(users) != 0 {
		t.Fatalf("Items(d) matched by prefix: %q", users)
	}
}

func (s *suite) testMany(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	n := s.opts.Many
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			svc := "many"
			if i%10 == 0 {
				svc = fmt.Sprintf("many-%03d", i/10)
			}
			if _, err := b.Save(ctx, nil, item(svc, fmt.Sprintf("user-%05d", i), 1)); err != nil {
				failed.Add(1)
				t.Errorf("Save %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	users, _ := collectUsers(t, b, "many", false)
	if want := n - (n+9)/10; len(users) != want {
		t.Fatalf("Items(many) gave %d users, want %d", len(users), want)
	}
	if !slices.IsSorted(users) {
		t.Fatalf("Items(many) not sorted")
	}
	if got, want := len(collectServices(t, b)), 1+(n+9)/10; got != want {
		t.Fatalf("Services gave %d, want %d", got, want)
	}
}

// Store-level tests.

type counting struct {
	cloudchain.Backend
	loads, saves atomic.Int64
}

func (c *counting) Load(ctx context.Context, s, u string) (*cloudchain.Item, error) {
	c.loads.Add(1)
	return c.Backend.Load(ctx, s, u)
}

func (c *counting) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	c.saves.Add(1)
	return c.Backend.Save(ctx, prev, next)
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
	f.store = cloudchain.New(f.backend, f.keys, opts...)
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
		sec.Author != "arn:aws:iam::123456789012:user/tester" || sec.Format != "v1" || sec.KeyID == "" || sec.Size != 7 {
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
	secs, err := f.store.GetService(ctxFor(t), "app")
	if err != nil || len(secs) != 3 || string(secs[2].Value) != "secret-u3" {
		t.Fatalf("GetService = %v, %v", secs, err)
	}
	svcs, err := f.store.Services(ctxFor(t))
	if err != nil || !slices.Equal(svcs, []string{"app", "other"}) {
		t.Fatalf("Services = %q, %v", svcs, err)
	}
	n, err := f.store.DeleteService(ctxFor(t), "app")
	if err != nil || n != 3 {
		t.Fatalf("DeleteService = %d, %v", n, err)
	}
	if secs, err := f.store.GetService(ctxFor(t), "app"); err != nil || len(secs) != 0 {
		t.Fatalf("GetService after DeleteService = %v, %v", secs, err)
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
		{"FlippedWrappedKey", func(r *cloudchain.Record) { r.WrappedKey[len(r.WrappedKey)-1] ^= 1 }},
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

func (s *suite) testCounts(t *testing.T) {
	f := s.newStore(t)
	mustPut(t, f.store, "db", "alice", "one")
	mustPut(t, f.store, "db", "alice", "two")
	gen, dec := f.keys.gens.Load(), f.keys.decs.Load()
	if f.backend.loads.Load() != 2 || f.backend.saves.Load() != 2 || gen != 2 || dec != 0 {
		t.Fatalf("2 puts made %d loads, %d saves, %d data keys, %d decrypts; want 2, 2, 2, 0",
			f.backend.loads.Load(), f.backend.saves.Load(), gen, dec)
	}
	mustGet(t, f.store, "db", "alice")
	gen, dec = f.keys.gens.Load(), f.keys.decs.Load()
	if f.backend.loads.Load() != 3 || f.backend.saves.Load() != 2 || gen != 2 || dec != 1 {
		t.Fatalf("a get made %d loads, %d decrypts; want 1 and 1", f.backend.loads.Load()-2, dec)
	}
}
