package cloudchain_test

// Races around the rollback manifest, found by review: each made a false
// tampering alarm (or broke the request budget) before it was fixed.
// Deterministic: the "concurrent" operation runs inside a hook of the
// backend, at the exact moment the race needs.

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// raceHooks wraps the memory backend (keeping BatchLoader, PairSaver and
// Discarder) and runs a hook once at a chosen point.
type raceHooks struct {
	*memory.Backend
	mu sync.Mutex
	// beforeSave runs once before the first Save or SaveBoth of a secret.
	beforeSave func()
	// beforeRemove runs once before the first Remove.
	beforeRemove func()
	// afterManifestPage runs once during Items, after the reserved items
	// (what a DynamoDB Query returns on its first page) were handed over
	// and before the secrets are read.
	afterManifestPage func()
	// batchInOrder, if set, makes LoadBatch read the key ring first, run
	// it, then read the others: BatchGetItem reads its keys in no set
	// order, at different moments.
	batchInOrder func()
	// beforeBatch runs once at the start of a LoadBatch.
	beforeBatch func()
}

func (h *raceHooks) take(p *func()) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := *p
	*p = nil
	return f
}

func (h *raceHooks) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	if !cloudchain.IsReservedUser(next.User) {
		if f := h.take(&h.beforeSave); f != nil {
			f()
		}
	}
	return h.Backend.Save(ctx, prev, next)
}

func (h *raceHooks) SaveBoth(ctx context.Context, prev1, next1, prev2, next2 *cloudchain.Item) (int, error) {
	if f := h.take(&h.beforeSave); f != nil {
		f()
	}
	return h.Backend.SaveBoth(ctx, prev1, next1, prev2, next2)
}

func (h *raceHooks) Remove(ctx context.Context, prev *cloudchain.Item) error {
	if f := h.take(&h.beforeRemove); f != nil {
		f()
	}
	return h.Backend.Remove(ctx, prev)
}

func (h *raceHooks) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	hook := h.take(&h.afterManifestPage)
	return h.Backend.Items(ctx, service, history, func(it *cloudchain.Item) error {
		if err := fn(it); err != nil {
			return err
		}
		// The reserved items sort first, the service keys last of them.
		if hook != nil && it.User == cloudchain.ServiceKeyUser {
			hook()
			hook = nil
		}
		return nil
	})
}

func (h *raceHooks) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	if f := h.take(&h.beforeBatch); f != nil {
		f()
	}
	hook := h.take(&h.batchInOrder)
	if hook == nil {
		return h.Backend.LoadBatch(ctx, service, users)
	}
	out := make([]*cloudchain.Item, len(users))
	order := []int{}
	for i, u := range users {
		if u == cloudchain.ServiceKeyUser {
			order = append([]int{i}, order...)
		} else {
			order = append(order, i)
		}
	}
	for n, i := range order {
		got, err := h.Backend.LoadBatch(ctx, service, users[i:i+1])
		if err != nil {
			return nil, err
		}
		out[i] = got[0]
		if n == 0 {
			hook()
		}
	}
	return out, nil
}

func racePut(t *testing.T, st *cloudchain.Store, service, user, value string) {
	t.Helper()
	if _, err := st.Put(context.Background(), service, user, []byte(value)); err != nil {
		t.Fatalf("put %s/%s: %v", service, user, err)
	}
}

// TestManifestRaceStaleRingPutAfterManifestMoved: a put that read the key ring
// before a rotation, and whose write conflicts with a write made after it
// (reencrypt, or a rotation plus another put), re-reads the manifest but not
// the ring. The manifest is now sealed under the new key version, which the
// ring in hand does not hold, and the put fails with ErrAuthentication (a
// tampering alarm, exit 6) although nothing was tampered with.
func TestManifestRaceStaleRingPutAfterManifestMoved(t *testing.T) {
	for _, tc := range []struct {
		name string
		race func(t *testing.T, other *cloudchain.Store)
	}{
		{"Reencrypt", func(t *testing.T, other *cloudchain.Store) {
			if _, err := other.ReencryptService(context.Background(), "db"); err != nil {
				t.Errorf("reencrypt: %v", err)
			}
		}},
		{"RotateThenPut", func(t *testing.T, other *cloudchain.Store) {
			if _, err := other.RotateServiceKey(context.Background(), "db"); err != nil {
				t.Errorf("rotate: %v", err)
			}
			racePut(t, other, "db", "bob", "b2")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memory.New()
			keys := testkeys.New("k")
			other := cloudchain.New(mem, keys)
			racePut(t, other, "db", "alice", "a1")
			racePut(t, other, "db", "bob", "b1")
			hb := &raceHooks{Backend: mem}
			hb.beforeSave = func() { tc.race(t, other) }
			w := cloudchain.New(hb, keys)
			v, err := w.Put(ctx, "db", "alice", []byte("a2"))
			if err != nil {
				t.Fatalf("put racing a key rotation = %d, %v; want it to land (no tampering happened)", v, err)
			}
			if got, err := other.Get(ctx, "db", "alice"); err != nil || string(got.Value) != "a2" {
				t.Fatalf("get after: %v", err)
			}
		})
	}
}

// TestManifestRaceGetStaleRingFreshManifest: BatchGetItem reads the ring before a
// rotation and the manifest after a put sealed it under the new version.
// enforcedLocked re-reads the manifest only, never the ring: a false alarm.
func TestManifestRaceGetStaleRingFreshManifest(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	other := cloudchain.New(mem, keys)
	racePut(t, other, "db", "alice", "a1")
	racePut(t, other, "db", "bob", "b1")
	hb := &raceHooks{Backend: mem}
	hb.batchInOrder = func() {
		if _, err := other.RotateServiceKey(ctx, "db"); err != nil {
			t.Errorf("rotate: %v", err)
		}
		racePut(t, other, "db", "bob", "b2")
	}
	r := cloudchain.New(hb, keys)
	if got, err := r.Get(ctx, "db", "alice"); err != nil || string(got.Value) != "a1" {
		t.Fatalf("get racing a rotation and a put: %v; want a1 (no tampering happened)", err)
	}
}

// TestManifestRaceGetServicesRacingPurge: a whole-service read gets the manifest
// on its first page (reserved names sort first) and the secrets later. A
// purge in between (mark, then remove) leaves the read holding a manifest
// that lists the purged secret alive and pages without it: checkItems
// reports "secrets ... are missing" (ErrAuthentication) with no
// confirmation re-read, unlike a single Get.
func TestManifestRaceGetServicesRacingPurge(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	other := cloudchain.New(mem, keys)
	racePut(t, other, "db", "alice", "a1")
	racePut(t, other, "db", "bob", "b1")
	hb := &raceHooks{Backend: mem}
	hb.afterManifestPage = func() {
		if err := other.Purge(ctx, "db", "alice"); err != nil {
			t.Errorf("purge: %v", err)
		}
	}
	r := cloudchain.New(hb, keys)
	secrets, err := r.GetServices(ctx, "db")
	if err != nil || len(secrets) != 1 || secrets[0].User != "bob" {
		t.Fatalf("GetServices racing a purge = %d secrets, %v; want bob alone, no alarm", len(secrets), err)
	}
}

// TestManifestRacePurgeBeforeFirstRing: a service written before service keys
// (no key ring) is purged while another client makes its first put: the
// purge saw no ring, so it marks nothing; the put lists every secret it
// found (alice included) in the new manifest; the purge then removes alice.
// From then on alice reads as removed outside cloudchain, and every
// whole-service read fails with ErrAuthentication until a reset.
func TestManifestRacePurgeBeforeFirstRing(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	legacy := cloudchain.New(mem, keys, cloudchain.WithLegacyWrites(true))
	racePut(t, legacy, "db", "alice", "a1")
	racePut(t, legacy, "db", "bob", "b1")
	modern := cloudchain.New(mem, keys)
	hb := &raceHooks{Backend: mem}
	hb.beforeRemove = func() { racePut(t, modern, "db", "carol", "c1") }
	if err := cloudchain.New(hb, keys).Purge(ctx, "db", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := modern.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) || errors.Is(err, cloudchain.ErrAuthentication) {
		t.Errorf("Get of the purged secret: %v; want ErrNotFound, no alarm", err)
	}
	if secrets, err := modern.GetServices(ctx, "db"); err != nil || len(secrets) != 2 {
		t.Errorf("GetServices = %d secrets, %v; want bob and carol, no alarm", len(secrets), err)
	}
}

// TestManifestRacePutAfterRotateBudget: the budget says a put into an existing
// service costs 1 Decrypt, also the first put after RotateServiceKey, which
// therefore seals the manifest again under the new version (otherwise the put
// would unwrap the old version only to verify the manifest).
func TestManifestRacePutAfterRotateBudget(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	setup := cloudchain.New(mem, keys)
	racePut(t, setup, "db", "alice", "a1")
	if _, err := setup.RotateServiceKey(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	st := cloudchain.New(mem, keys)
	_, before, _ := keys.Counts()
	racePut(t, st, "db", "bob", "b1")
	if _, after, _ := keys.Counts(); after-before != 1 {
		t.Fatalf("the first put after a rotation made %d Decrypt calls, the budget says 1", after-before)
	}
}

// TestManifestRacePurgedDuringConfirm: a whole-service read finds alice
// rolled back (an older copy put back) and, while it confirms the alarm,
// alice is purged. The read must return neither the rolled-back value nor
// an alarm; and purging a rolled-back secret must leave no alarm behind.
func TestManifestRacePurgedDuringConfirm(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	st := cloudchain.New(mem, keys)
	racePut(t, st, "db", "alice", "a1")
	old, err := mem.Load(ctx, "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	racePut(t, st, "db", "alice", "a2")
	racePut(t, st, "db", "bob", "b1")
	cur, err := mem.Load(ctx, "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Save(ctx, cur, old); err != nil { // the rollback
		t.Fatal(err)
	}
	hb := &raceHooks{Backend: mem}
	hb.beforeBatch = func() {
		if err := st.Purge(ctx, "db", "alice"); err != nil {
			t.Errorf("purge: %v", err)
		}
	}
	secrets, err := cloudchain.New(hb, keys).GetServices(ctx, "db")
	if err != nil || len(secrets) != 1 || secrets[0].User != "bob" {
		for _, s := range secrets {
			t.Logf("returned %s = %q", s.User, s.Value)
		}
		t.Fatalf("GetServices with alice purged during the confirmation = %d secrets, %v; want bob alone", len(secrets), err)
	}
	if _, err := st.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) || errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("Get of the purged secret: %v; want ErrNotFound, no alarm", err)
	}
}

// TestResetManifestKeepsPurgeMarks: a reset of a manifest that still
// verifies keeps its purge marks, so a purged secret's leftover stays
// purged and its version numbers continue rather than restart.
func TestResetManifestKeepsPurgeMarks(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	keys := testkeys.New("k")
	st := cloudchain.New(mem, keys)
	racePut(t, st, "db", "alice", "a1")
	racePut(t, st, "db", "alice", "a2")
	racePut(t, st, "db", "bob", "b1")
	leftover, err := mem.Load(ctx, "db", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, "db", "alice"); err != nil {
		t.Fatal(err)
	}
	// A half-done purge: the mark landed, the item was put back.
	if _, err := mem.Save(ctx, nil, leftover); err != nil {
		t.Fatal(err)
	}
	n, err := st.ResetManifest(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("ResetManifest lists %d entries, want 2 (bob, and alice purged)", n)
	}
	if _, err := st.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get of the purged secret's leftover after a reset: %v, want ErrNotFound", err)
	}
	if err := st.Purge(ctx, "db", "alice"); err != nil {
		t.Fatal(err)
	}
	v, err := st.Put(ctx, "db", "alice", []byte("a3"))
	if err != nil || v != 3 {
		t.Fatalf("put after purge and reset = version %d, %v; want 3 (numbers continue past the purge)", v, err)
	}
}
