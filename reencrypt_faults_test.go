package cloudchain_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// TestReencryptConcurrentPut: another writer changes a secret while the
// service is re-encrypted, deterministically (one secret at a time, the
// other write made inside the re-encryption's n-th write):
//   - a fresh writer writes bob before the re-encryption reaches him: the
//     re-encryption's write of bob conflicts, it reads bob again and redoes
//     him;
//   - a writer that read the key ring before the rotation writes bob after
//     the re-encryption rewrote him: its record is under the old version,
//     and the final check sends bob round again.
//
// Either way no update is lost and everything ends under the new version.
func TestReencryptConcurrentPut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		at      int64 // the re-encryption's write during which bob is written
		stale   bool  // the writer read the key ring before the rotation
		passes  int
		conflct int
	}{
		{"FreshWriterFirst", 1, false, 1, 1},
		{"StaleWriterAfter", 3, true, 2, 0},
	} {
		for _, be := range reencryptBackends {
			t.Run(tc.name+"/"+be.name, func(t *testing.T) {
				ctx := context.Background()
				keys := testkeys.New("k")
				inner := be.open(t)
				setup := newTestStore(inner, keys)
				fill(t, setup, "db", 4) // u00..u03, u03 deleted
				want := snapshot(t, setup, "db")

				other := &countingBackend{Backend: inner}
				writer := newTestStore(other, keys)
				cb := &countingBackend{Backend: inner}
				st := newTestStore(cb, keys, cloudchain.WithParallelism(1))
				var rep *cloudchain.ReencryptReport
				var err error
				if tc.stale {
					// The writer reads bob and the ring (version 1), then,
					// at its write, lets the whole re-encryption run and
					// write bob first, up to the re-encryption's tc.at-th
					// write, where the writer's write goes in.
					release := make(chan struct{})
					var once sync.Once
					done := make(chan error, 1)
					type result struct {
						rep *cloudchain.ReencryptReport
						err error
					}
					res := make(chan result, 1)
					cb.before = func(n int64, _ *cloudchain.Item) error {
						if n == tc.at {
							once.Do(func() { close(release) })
							return <-done
						}
						return nil
					}
					other.before = func(n int64, _ *cloudchain.Item) error {
						if n == 1 {
							go func() {
								rep, err := st.ReencryptService(ctx, "db")
								once.Do(func() { close(release) }) // the hook never ran
								res <- result{rep, err}
							}()
							<-release
						}
						return nil
					}
					_, perr := writer.Put(ctx, "db", "u01", []byte("bob's new value"))
					done <- perr
					r := <-res
					rep, err = r.rep, r.err
				} else {
					cb.before = func(n int64, _ *cloudchain.Item) error {
						if n == tc.at {
							_, err := writer.Put(ctx, "db", "u01", []byte("bob's new value"))
							return err
						}
						return nil
					}
					rep, err = st.ReencryptService(ctx, "db")
				}
				if err != nil {
					t.Fatal(err)
				}
				if rep.Passes != tc.passes || rep.Conflicts != tc.conflct || rep.KeyVersion != 2 {
					t.Fatalf("report: %+v; want %d passes, %d conflicts", rep, tc.passes, tc.conflct)
				}
				got := snapshot(t, setup, "db")
				allUnder(t, got, 2)
				bob := got["u01"]
				if bob[0].Value != "bob's new value" || bob[0].Version != 4 {
					t.Fatalf("bob's concurrent write was lost: %+v", bob[0])
				}
				got["u01"] = bob[1:]
				sameContent(t, got, want)
			})
		}
	}
}

// TestReencryptResume: a re-encryption whose k-th write fails leaves every
// secret readable with its whole history, each wholly old or wholly new;
// running it again completes. A failure before the first rewrite of a
// secret leaves the new version unused, and the next run reuses it.
func TestReencryptResume(t *testing.T) {
	for _, be := range reencryptBackends {
		for _, k := range []int64{1, 3, 6} {
			t.Run(fmt.Sprintf("%s/write%d", be.name, k), func(t *testing.T) {
				ctx := context.Background()
				keys := testkeys.New("k")
				cb := &countingBackend{Backend: be.open(t)}
				st := newTestStore(cb, keys, cloudchain.WithParallelism(1))
				fill(t, st, "db", 6)
				want := snapshot(t, st, "db")
				injected := errors.New("injected failure")
				cb.saves.Store(0)
				cb.before = func(n int64, _ *cloudchain.Item) error {
					if n == k {
						return injected
					}
					return nil
				}
				if _, err := st.ReencryptService(ctx, "db"); !errors.Is(err, injected) {
					t.Fatalf("first run: %v", err)
				}
				mid := snapshot(t, st, "db")
				sameContent(t, mid, want)
				moved := 0
				for _, vs := range mid {
					if vs[0].ServiceKey == 2 {
						moved++
					}
					for _, v := range vs {
						if v.ServiceKey != vs[0].ServiceKey {
							t.Fatalf("a secret is partly re-encrypted: %+v", vs)
						}
					}
				}
				if moved != int(k-1) {
					t.Fatalf("%d secrets moved before the failure of write %d", moved, k)
				}
				cb.before = nil
				rep, err := st.ReencryptService(ctx, "db")
				if err != nil {
					t.Fatal(err)
				}
				wantV, wantNew := int64(3), true
				if k == 1 {
					wantV, wantNew = 2, false // version 2 made but never used: reused
				}
				if rep.KeyVersion != wantV || rep.NewKey != wantNew || rep.Rewritten != 6 {
					t.Fatalf("second run: %+v", rep)
				}
				got := snapshot(t, st, "db")
				sameContent(t, got, want)
				allUnder(t, got, wantV)
			})
		}
	}
}

// TestReencryptLegacyAndV1: records in the Python tool's format and records
// made before service keys (current and in history, deletion markers
// included) are sealed again as v2 records with their content unchanged, at
// one key-provider call each. In an upgraded service, legacy records left in
// history cannot be opened any more and are kept as they are.
func TestReencryptLegacyAndV1(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	keys := testkeys.New("k")
	legacy := newTestStore(b, keys, cloudchain.WithLegacyWrites(true))
	for i := range 3 {
		if _, err := legacy.Put(ctx, "py", "alice", fmt.Appendf(nil, "legacy-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// bob: v1 secret, v1 deletion marker, v1 secret, then a v2 put.
	var prev *cloudchain.Item
	var recs []*cloudchain.Record
	for v := int64(1); v <= 3; v++ {
		r := &cloudchain.Record{Version: v, Created: time.Date(2020, 1, int(v), 0, 0, 0, 0, time.UTC), Author: "old", Comment: fmt.Sprint("c", v), Deleted: v == 2}
		if err := cloudchain.SealV1ForTest(ctx, keys, sealedRand, "py", "bob", r, fmt.Appendf(nil, "v1-%d", v)); err != nil {
			t.Fatal(err)
		}
		recs = append([]*cloudchain.Record{r}, recs...)
		next := &cloudchain.Item{Service: "py", User: "bob", Records: append([]*cloudchain.Record(nil), recs...)}
		if _, err := b.Save(ctx, prev, next); err != nil {
			t.Fatal(err)
		}
		prev = next
	}
	st := newTestStore(b, keys)
	if _, err := st.Put(ctx, "py", "bob", []byte("v2-4")); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, st, "py")
	_, d0, _ := keys.Counts()
	rep, err := st.ReencryptService(ctx, "py")
	if err != nil {
		t.Fatal(err)
	}
	_, d1, _ := keys.Counts()
	// 1 for the service key, 3 legacy records, 2 v1 secrets (the v1
	// deletion marker has no key).
	if d1-d0 != 6 || rep.Records != 7 || rep.Upgraded != 6 || rep.KeyVersion != 2 {
		t.Fatalf("%d Decrypts, report %+v", d1-d0, rep)
	}
	got := snapshot(t, st, "py")
	sameContent(t, got, want)
	allUnder(t, got, 2)

	// An upgraded service with legacy history.
	for i := range 2 {
		if _, err := legacy.Put(ctx, "up", "carol", fmt.Appendf(nil, "legacy-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Upgrade(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	rep, err = st.ReencryptService(ctx, "up")
	if err != nil || rep.KeptAsIs != 2 || rep.Records != 1 || rep.Checked != 1 {
		t.Fatalf("upgraded service: %+v, %v", rep, err)
	}
	if sec, err := st.Get(ctx, "up", "carol"); err != nil || string(sec.Value) != "legacy-1" || sec.ServiceKey != 2 {
		t.Fatalf("carol after re-encryption: %+v, %v", sec, err)
	}
}
