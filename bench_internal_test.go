package cloudchain

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{32, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r := &Record{Format: FormatV1, Version: 3, Created: time.Unix(1, 0), Author: "alice", KeyID: "local:0011223344556677", Context: ServiceContext("db"), WrappedKey: make([]byte, 61)}
				if err := seal(rand.Reader, key, "db", "alice", r, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{32, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			r := &Record{Format: FormatV1, Version: 3, Created: time.Unix(1, 0), Author: "alice", KeyID: "local:0011223344556677", Context: ServiceContext("db"), WrappedKey: make([]byte, 61)}
			if err := seal(rand.Reader, key, "db", "alice", r, make([]byte, size)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := open(key, "db", "alice", r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshalUnmarshalRecord(b *testing.B) {
	r := &Record{Format: FormatV1, Version: 3, Created: time.Unix(1, 0), Author: "alice", KeyID: "local:0011223344556677", Context: ServiceContext("db"), WrappedKey: make([]byte, 61), Nonce: make([]byte, 12), Ciphertext: make([]byte, 48)}
	b.ReportAllocs()
	for b.Loop() {
		enc, _ := r.MarshalBinary()
		if _, err := UnmarshalRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}
