package cloudchain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
	"github.com/cloudchain/cloudchain/keys/local"
)

// newEmbedded returns a Store on the embedded default (bbolt file + local
// key in b.TempDir()), as `cchain` uses it with no configuration.
func newEmbedded(b *testing.B) *cloudchain.Store {
	dir := b.TempDir()
	keys, err := local.Open(filepath.Join(dir, "master.key"))
	if err != nil {
		b.Fatal(err)
	}
	be, err := bolt.Open(filepath.Join(dir, "secrets.db"))
	if err != nil {
		b.Fatal(err)
	}
	st := cloudchain.New(be, keys)
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkEmbeddedPut is one put on the embedded store: read the item and
// the key ring, unwrap the service key, seal, conditional write with fsync.
func BenchmarkEmbeddedPut(b *testing.B) {
	st := newEmbedded(b)
	ctx := context.Background()
	value := []byte("correct horse battery staple")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.Put(ctx, "bench", fmt.Sprintf("user-%d", i%100), value); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkEmbeddedGet is one get of a secret with a full history (10
// earlier versions) on the embedded store.
func BenchmarkEmbeddedGet(b *testing.B) {
	st := newEmbedded(b)
	ctx := context.Background()
	for range cloudchain.DefaultHistoryDepth + 1 {
		if _, err := st.Put(ctx, "bench", "alice", []byte("correct horse battery staple")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		sec, err := st.Get(ctx, "bench", "alice")
		if err != nil {
			b.Fatal(err)
		}
		cloudchain.Zero(sec.Value)
	}
}

// BenchmarkGetService is a bulk read of a 100-secret service on the
// embedded store: one pass over the items plus one unwrap of the service key.
func BenchmarkGetService(b *testing.B) {
	st := newEmbedded(b)
	ctx := context.Background()
	if _, err := st.PutMany(ctx, "bulk", values(100, 0)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		secs, err := st.GetService(ctx, "bulk")
		if err != nil {
			b.Fatal(err)
		}
		zeroAll(secs)
	}
}

// values returns n secrets user-0000 ... with values that differ for each
// round, so that PutMany writes every one of them.
func values(n, round int) []cloudchain.SecretValue {
	out := make([]cloudchain.SecretValue, n)
	for i := range out {
		out[i] = cloudchain.SecretValue{User: fmt.Sprintf("user-%04d", i), Value: fmt.Appendf(nil, "value %d of round %d, 32 bytes or so", i, round)}
	}
	return out
}

func zeroAll(secs []*cloudchain.Secret) {
	for _, s := range secs {
		cloudchain.Zero(s.Value)
	}
}

// reportUnwraps reports the key-provider calls per operation, which the
// request budget fixes at one per service whatever the number of secrets.
func reportUnwraps(b *testing.B, keys *testkeys.Provider, before int64) {
	_, dec, _ := keys.Counts()
	b.ReportMetric(float64(dec-before)/float64(b.N), "unwraps/op")
}

// BenchmarkGetServices1000 is the bulk read of a service of 1,000 secrets,
// each with a full history, on the memory backend: the cost of the Store
// itself (decode, one unwrap, 1,000 HKDF derivations and AES-GCM opens).
func BenchmarkGetServices1000(b *testing.B) {
	keys := testkeys.New("bench")
	st := cloudchain.New(memory.New(), keys)
	ctx := context.Background()
	for round := range cloudchain.DefaultHistoryDepth + 1 {
		if _, err := st.PutMany(ctx, "bulk", values(1000, round)); err != nil {
			b.Fatal(err)
		}
	}
	_, before, _ := keys.Counts()
	b.ReportAllocs()
	for b.Loop() {
		secs, err := st.GetServices(ctx, "bulk")
		if err != nil {
			b.Fatal(err)
		}
		if len(secs) != 1000 {
			b.Fatalf("read %d secrets, want 1000", len(secs))
		}
		zeroAll(secs)
	}
	reportUnwraps(b, keys, before)
}

// BenchmarkPutMany1000 writes 1,000 changed secrets into one service on the
// memory backend through the bulk API: one read of the partition, one
// unwrap, 1,000 seals and conditional writes.
func BenchmarkPutMany1000(b *testing.B) {
	keys := testkeys.New("bench")
	st := cloudchain.New(memory.New(), keys)
	ctx := context.Background()
	if _, err := st.PutMany(ctx, "bulk", values(1000, -1)); err != nil {
		b.Fatal(err)
	}
	_, before, _ := keys.Counts()
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		vals := values(1000, round)
		round++
		b.StartTimer()
		res, err := st.PutMany(ctx, "bulk", vals)
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Status != cloudchain.Updated {
			b.Fatalf("status %s, want updated", res[0].Status)
		}
	}
	reportUnwraps(b, keys, before)
}

// BenchmarkPutManyUnchanged1000 is the idempotent case of import: 1,000
// values equal to the current ones, so nothing is written.
func BenchmarkPutManyUnchanged1000(b *testing.B) {
	keys := testkeys.New("bench")
	st := cloudchain.New(memory.New(), keys)
	ctx := context.Background()
	vals := values(1000, 0)
	if _, err := st.PutMany(ctx, "bulk", vals); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := st.PutMany(ctx, "bulk", vals)
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Status != cloudchain.Unchanged {
			b.Fatalf("status %s, want unchanged", res[0].Status)
		}
	}
}
