package cloudchain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/keys/local"
)

// newEmbedded returns a Store on the embedded default (bbolt file + local
// key), as `cchain` uses it with no configuration.
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
	return cloudchain.New(be, keys)
}

// BenchmarkEmbeddedPut is one put on the embedded store: open the file, read
// the item, seal, conditional write with fsync.
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
// embedded store: one pass over the items plus one unwrap per data key.
func BenchmarkGetService(b *testing.B) {
	st := newEmbedded(b)
	ctx := context.Background()
	for i := range 100 {
		if _, err := st.Put(ctx, "bulk", fmt.Sprintf("user-%03d", i), []byte("value")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.GetService(ctx, "bulk"); err != nil {
			b.Fatal(err)
		}
	}
}
