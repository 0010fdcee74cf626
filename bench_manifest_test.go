package cloudchain_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// The cost of the rollback manifest, which grows with the service: a put
// and a get in services of 1, 100 and 10,000 secrets, on the memory backend
// (the CPU side: encoding, MAC, copying; a real backend adds the manifest's
// bytes on the wire).
func benchService(b *testing.B, n int) (*cloudchain.Store, context.Context) {
	ctx := context.Background()
	st := cloudchain.New(memory.New(), testkeys.New("k"))
	values := make([]cloudchain.SecretValue, n)
	for i := range values {
		values[i] = cloudchain.SecretValue{User: fmt.Sprintf("user-%05d", i), Value: []byte("correct horse battery staple")}
	}
	if _, err := st.PutMany(ctx, "bench", values); err != nil {
		b.Fatal(err)
	}
	return st, ctx
}

func BenchmarkPutInService(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st, ctx := benchService(b, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := st.Put(ctx, "bench", fmt.Sprintf("user-%05d", i%n), []byte("new value")); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkGetInService(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st, ctx := benchService(b, n)
			b.ReportAllocs()
			for b.Loop() {
				sec, err := st.Get(ctx, "bench", "user-00000")
				if err != nil {
					b.Fatal(err)
				}
				cloudchain.Zero(sec.Value)
			}
		})
	}
}
