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
	// Damage replaces what b stores for (service, user) with an item whose
	// records (current first, then history) are encoded as records,
	// bypassing every check of the backend, so that the suite can test how
	// damaged items are reported. The tests that need it are skipped when
	// it is nil.
	Damage func(t *testing.T, b cloudchain.Backend, service, user string, records ...[]byte)
	// TooLarge is a ciphertext size that the backend's documented limit
	// refuses for a current record (ErrTooLarge, nothing written), and
	// HistoryDrop a smaller one such that eight records of it do not fit in
	// one item, so that Save must drop history. Zero skips the size tests,
	// for a backend without a limit.
	TooLarge, HistoryDrop int
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
		t.Run("LoadBatch", s.testLoadBatch)
		t.Run("DamagedHistory", s.testDamagedHistory)
		t.Run("Cancelled", s.testCancelled)
		t.Run("SizeLimits", s.testSizeLimits)
		t.Run("TruncatedItem", s.testTruncated)
		t.Run("DeletionMarker", s.testDeletionMarker)
		t.Run("VersionsMustDecrease", s.testVersionOrder)
		t.Run("ServiceKeyItem", s.testServiceKeyItem)
	})
	t.Run("Store", s.runStore)
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

func (s *suite) damage(t *testing.T, b cloudchain.Backend, service, user string, records ...[]byte) {
	t.Helper()
	if s.opts.Damage == nil {
		t.Skip("Options.Damage is not set: cannot store a damaged item in this backend")
	}
	s.opts.Damage(t, b, service, user, records...)
}

func (s *suite) testLoadBatch(t *testing.T) {
	b := s.newBackend(t)
	bl, ok := b.(cloudchain.BatchLoader)
	if !ok {
		t.Skip("the backend is not a BatchLoader")
	}
	ctx := ctxFor(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	mustSave(t, b, mustLoad(t, b, "svc", "alice"), item("svc", "alice", 2, 1))
	mustSave(t, b, nil, item("svc", "carol", 1))
	mustSave(t, b, nil, item("svc", cloudchain.ServiceKeyUser, 3, 1))
	mustSave(t, b, nil, item("other", "bob", 1))

	users := []string{"carol", "bob", "alice", cloudchain.ServiceKeyUser, "nobody", "alice"}
	got, err := bl.LoadBatch(ctx, "svc", users)
	if err != nil {
		t.Fatalf("LoadBatch: %v", err)
	}
	if len(got) != len(users) {
		t.Fatalf("LoadBatch gave %d items for %d users", len(got), len(users))
	}
	for i, u := range users {
		want, err := b.Load(ctx, "svc", u)
		if errors.Is(err, cloudchain.ErrNotFound) {
			if got[i] != nil {
				t.Errorf("entry %d (%q): %+v, want nil for a missing item", i, u, got[i])
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got[i] == nil {
			t.Fatalf("entry %d (%q) is nil, want the item", i, u)
		}
		sameRecords(t, got[i], want)
	}
	if got[2] == nil || len(got[2].Records) != 2 {
		t.Fatalf("LoadBatch did not return alice's history")
	}

	for _, tc := range []struct {
		name    string
		service string
		users   []string
	}{
		{"NoUsers", "svc", nil},
		{"MissingService", "nothing", []string{"alice", "bob"}},
	} {
		got, err := bl.LoadBatch(ctx, tc.service, tc.users)
		if err != nil || len(got) != len(tc.users) {
			t.Fatalf("%s: LoadBatch = %d entries, %v; want %d", tc.name, len(got), err, len(tc.users))
		}
		for i, it := range got {
			if it != nil {
				t.Errorf("%s: entry %d is %+v, want nil", tc.name, i, it)
			}
		}
	}

	t.Run("Malformed", func(t *testing.T) {
		s.damage(t, b, "svc", "carol", []byte("CCR1 not a record"))
		_, err := bl.LoadBatch(ctx, "svc", []string{"alice", "carol"})
		if !errors.Is(err, cloudchain.ErrMalformed) {
			t.Fatalf("LoadBatch with a damaged item: err = %v, want ErrMalformed", err)
		}
	})
}

// testCancelled: with a cancelled ctx every method fails with an error
// wrapping context.Canceled, and no write lands.
func (s *suite) testCancelled(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	prev := mustLoad(t, b, "svc", "alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := []struct {
		name string
		run  func() error
	}{
		{"Load", func() error { _, err := b.Load(ctx, "svc", "alice"); return err }},
		{"SaveNew", func() error { _, err := b.Save(ctx, nil, item("svc", "bob", 1)); return err }},
		{"SaveNext", func() error { _, err := b.Save(ctx, prev, item("svc", "alice", 2, 1)); return err }},
		{"Remove", func() error { return b.Remove(ctx, prev) }},
		{"Services", func() error { return b.Services(ctx, func(string) error { return nil }) }},
		{"Items", func() error { return b.Items(ctx, "svc", true, func(*cloudchain.Item) error { return nil }) }},
	}
	if bl, ok := b.(cloudchain.BatchLoader); ok {
		ops = append(ops, struct {
			name string
			run  func() error
		}{"LoadBatch", func() error { _, err := bl.LoadBatch(ctx, "svc", []string{"alice"}); return err }})
	}
	if d, ok := b.(cloudchain.Discarder); ok {
		ops = append(ops, struct {
			name string
			run  func() error
		}{"Discard", func() error { return d.Discard(ctx, "svc", "alice") }})
	}
	for _, op := range ops {
		if err := op.run(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", op.name, err)
		}
	}
	sameRecords(t, mustLoad(t, b, "svc", "alice"), prev)
	if _, err := b.Load(ctxFor(t), "svc", "bob"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Errorf("a cancelled Save wrote bob: Load err = %v", err)
	}
}

// bigRec returns a record whose ciphertext has size bytes.
func bigRec(version int64, size int) *cloudchain.Record {
	r := rec(version, "big")
	r.Ciphertext = bytes.Repeat([]byte{byte(version)}, size)
	return r
}

func encodings(t *testing.T, it *cloudchain.Item) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range it.Records {
		e, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func (s *suite) testSizeLimits(t *testing.T) {
	if s.opts.TooLarge == 0 {
		t.Skip("Options.TooLarge is not set: the backend has no size limit")
	}
	b := s.newBackend(t)
	ctx := ctxFor(t)
	t.Run("CurrentTooLarge", func(t *testing.T) {
		next := &cloudchain.Item{Service: "svc", User: "huge", Records: []*cloudchain.Record{bigRec(1, s.opts.TooLarge)}}
		if _, err := b.Save(ctx, nil, next); !errors.Is(err, cloudchain.ErrTooLarge) {
			t.Fatalf("Save of a %d-byte record: err = %v, want ErrTooLarge", s.opts.TooLarge, err)
		}
		if _, err := b.Load(ctx, "svc", "huge"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("a refused Save wrote something: Load err = %v", err)
		}
		mustSave(t, b, nil, item("svc", "small", 1))
		prev := mustLoad(t, b, "svc", "small")
		next = &cloudchain.Item{Service: "svc", User: "small", Records: []*cloudchain.Record{bigRec(2, s.opts.TooLarge), prev.Records[0]}}
		if _, err := b.Save(ctx, prev, next); !errors.Is(err, cloudchain.ErrTooLarge) {
			t.Fatalf("Save of a %d-byte record over an item: err = %v, want ErrTooLarge", s.opts.TooLarge, err)
		}
		sameRecords(t, mustLoad(t, b, "svc", "small"), prev)
	})
	t.Run("HistoryDropped", func(t *testing.T) {
		next := &cloudchain.Item{Service: "svc", User: "long"}
		for v := int64(8); v >= 1; v-- {
			next.Records = append(next.Records, bigRec(v, s.opts.HistoryDrop))
		}
		before := encodings(t, next)
		dropped, err := b.Save(ctx, nil, next)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if !slices.EqualFunc(before, encodings(t, next), bytes.Equal) {
			t.Fatalf("Save modified next")
		}
		got := mustLoad(t, b, "svc", "long")
		if dropped <= 0 || dropped != len(next.Records)-len(got.Records) {
			t.Fatalf("Save reported %d dropped; it kept %d of %d records", dropped, len(got.Records), len(next.Records))
		}
		kept := &cloudchain.Item{Service: "svc", User: "long", Records: next.Records[:len(got.Records)]}
		sameRecords(t, got, kept) // the newest records are the ones kept
	})
}

// testTruncated: an item whose stored record is cut short is ErrMalformed
// from Load, never ErrNotFound; Items hands it on marked Malformed, between
// the intact items, instead of hiding the whole service.
func (s *suite) testTruncated(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	enc, err := rec(1, "1").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{len(enc) - 1, len(enc) / 2, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s.damage(t, b, "svc", "bob", enc[:n])
			if _, err := b.Load(ctxFor(t), "svc", "bob"); !errors.Is(err, cloudchain.ErrMalformed) {
				t.Fatalf("Load of a record cut to %d of %d bytes: err = %v, want ErrMalformed", n, len(enc), err)
			}
			var seen []string
			err := b.Items(ctxFor(t), "svc", false, func(it *cloudchain.Item) error {
				switch {
				case it.User == "bob" && errors.Is(it.Malformed, cloudchain.ErrMalformed) && len(it.Records) == 0:
					seen = append(seen, "bob:malformed")
				case it.User == "alice" && it.Malformed == nil && it.Version() == 1:
					seen = append(seen, "alice")
				default:
					t.Errorf("Items gave %s/%s: %d records, malformed %v", it.Service, it.User, len(it.Records), it.Malformed)
				}
				return nil
			})
			if err != nil || !slices.Equal(seen, []string{"alice", "bob:malformed"}) {
				t.Fatalf("Items over a truncated record: %q, %v", seen, err)
			}
		})
	}
}

// testDamagedHistory: an earlier version that cannot be decoded is left out
// and counted, and never makes the current version unreadable; the next
// write drops it.
func (s *suite) testDamagedHistory(t *testing.T) {
	b := s.newBackend(t)
	enc := func(v int64) []byte {
		data, err := rec(v, fmt.Sprint(v)).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	mustSave(t, b, nil, item("svc", "alice", 1))
	s.damage(t, b, "svc", "carol", enc(3), []byte("CCR1 garbage"), enc(1))
	it, err := b.Load(ctxFor(t), "svc", "carol")
	if err != nil {
		t.Fatalf("Load with a damaged old version: %v", err)
	}
	if it.Version() != 3 || len(it.Records) != 2 || it.Records[1].Version != 1 || it.DamagedHistory != 1 {
		t.Fatalf("Load = %d records (current %d), %d damaged; want 3 and 1 kept, 1 damaged", len(it.Records), it.Version(), it.DamagedHistory)
	}
	var listed *cloudchain.Item
	err = b.Items(ctxFor(t), "svc", true, func(i *cloudchain.Item) error {
		if i.User == "carol" {
			listed = i
		}
		return nil
	})
	if err != nil || listed == nil || listed.DamagedHistory != 1 || listed.Malformed != nil {
		t.Fatalf("Items with history: %+v, %v", listed, err)
	}
	next := &cloudchain.Item{Service: "svc", User: "carol", Records: append([]*cloudchain.Record{rec(4, "4")}, it.Records...)}
	mustSave(t, b, it, next)
	if again := mustLoad(t, b, "svc", "carol"); again.DamagedHistory != 0 || len(again.Records) != 3 {
		t.Fatalf("after a write: %d records, %d damaged", len(again.Records), again.DamagedHistory)
	}
}

// testDeletionMarker: a deletion marker with its metadata round-trips as
// the current record, in Load and in both kinds of listing.
func (s *suite) testDeletionMarker(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "alice", 1))
	prev := mustLoad(t, b, "svc", "alice")
	marker := &cloudchain.Record{Format: cloudchain.FormatV1, Version: 2, Created: epoch.Add(time.Hour), Author: "deleter", Comment: "gone", Deleted: true}
	next := &cloudchain.Item{Service: "svc", User: "alice", Records: []*cloudchain.Record{marker, prev.Records[0]}}
	mustSave(t, b, prev, next)
	got := mustLoad(t, b, "svc", "alice")
	sameRecords(t, got, next)
	if !got.Current().Deleted || got.Current().Author != "deleter" {
		t.Fatalf("current record %+v, want the deletion marker", got.Current())
	}
	for _, history := range []bool{false, true} {
		_, items := collectUsers(t, b, "svc", history)
		if len(items) != 1 || !items[0].Current().Deleted {
			t.Fatalf("Items(history=%v) = %+v, want the deleted item", history, items)
		}
	}
	// Deleting again writes a new marker over the old one.
	again := &cloudchain.Item{Service: "svc", User: "alice", Records: []*cloudchain.Record{
		{Format: cloudchain.FormatV1, Version: 3, Created: epoch.Add(time.Hour), Deleted: true}, marker, prev.Records[0]}}
	mustSave(t, b, got, again)
	sameRecords(t, mustLoad(t, b, "svc", "alice"), again)
}

// testVersionOrder: Save refuses records whose versions do not strictly
// decrease, and writes nothing.
func (s *suite) testVersionOrder(t *testing.T) {
	b := s.newBackend(t)
	for _, versions := range [][]int64{{1, 2}, {2, 2}, {3, 1, 2}} {
		t.Run(fmt.Sprint(versions), func(t *testing.T) {
			next := item("svc", "alice", versions...)
			if _, err := b.Save(ctxFor(t), nil, next); err == nil {
				t.Fatalf("Save of versions %v succeeded", versions)
			}
			if _, err := b.Load(ctxFor(t), "svc", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("a refused Save wrote something: Load err = %v", err)
			}
		})
	}
}

// testServiceKeyItem: the item of cloudchain.ServiceKeyUser is stored and
// listed like any other, first in its service (its name sorts before every
// valid user name).
func (s *suite) testServiceKeyItem(t *testing.T) {
	b := s.newBackend(t)
	mustSave(t, b, nil, item("svc", "bob", 1))
	keys := item("svc", cloudchain.ServiceKeyUser, 2, 1)
	mustSave(t, b, nil, keys)
	mustSave(t, b, nil, item("svc", "!first", 1))
	sameRecords(t, mustLoad(t, b, "svc", cloudchain.ServiceKeyUser), keys)
	for _, history := range []bool{false, true} {
		users, _ := collectUsers(t, b, "svc", history)
		if want := []string{cloudchain.ServiceKeyUser, "!first", "bob"}; !slices.Equal(users, want) {
			t.Fatalf("Items(history=%v) users = %q, want %q", history, users, want)
		}
	}
	// A service that holds nothing but its key ring (all its secrets were
	// purged) is not listed.
	mustSave(t, b, nil, item("keys-only", cloudchain.ServiceKeyUser, 1))
	mustSave(t, b, nil, item("keys-then-one", cloudchain.ServiceKeyUser, 1))
	mustSave(t, b, nil, item("keys-then-one", "u", 1))
	if got := collectServices(t, b); !slices.Equal(got, []string{"keys-then-one", "svc"}) {
		t.Fatalf("Services = %q, want the services that hold a secret", got)
	}
	if err := b.Remove(ctxFor(t), mustLoad(t, b, "svc", cloudchain.ServiceKeyUser)); err != nil {
		t.Fatalf("Remove of the key ring item: %v", err)
	}
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
