package cloudchain

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

var benchSizes = []int{32, 4 << 10, 64 << 10}

func benchV1Record() *Record {
	return &Record{Format: FormatV1, Version: 3, Created: time.Unix(1, 0), Author: "alice", KeyID: "local:0011223344556677", Context: ServiceContext("db"), WrappedKey: make([]byte, 61)}
}

func benchV2Record() *Record {
	return &Record{Version: 3, Created: time.Unix(1, 0), Author: "arn:aws:iam::123456789012:user/alice", Comment: "rotated"}
}

// BenchmarkSeal is sealing a FormatV1 record under its (already unwrapped)
// data key: one AES-256-GCM seal.
func BenchmarkSeal(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := seal(rand.Reader, key, "db", "alice", benchV1Record(), pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is opening a FormatV1 record with its unwrapped data key.
func BenchmarkOpen(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			r := benchV1Record()
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

// BenchmarkSealV2 is sealing a FormatV2 record under an unwrapped service
// key: a random salt, an HKDF-SHA256 derivation and one AES-256-GCM seal.
// It is the per-secret work of a put and of PutMany.
func BenchmarkSealV2(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := sealV2(rand.Reader, key, 1, "db", "alice", benchV2Record(), pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenV2 is opening a FormatV2 record with the unwrapped service
// key: the per-secret work of a get and of a bulk read.
func BenchmarkOpenV2(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			key := make([]byte, 32)
			r := benchV2Record()
			if err := sealV2(rand.Reader, key, 1, "db", "alice", r, make([]byte, size)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				pt, err := openV2(key, "db", "alice", r)
				if err != nil {
					b.Fatal(err)
				}
				Zero(pt)
			}
		})
	}
}

// BenchmarkMarshalRecord and BenchmarkUnmarshalRecord are the record
// encoding, for a FormatV1 and a FormatV2 record of a 32-byte secret.
func BenchmarkMarshalRecord(b *testing.B) {
	for _, r := range benchRecords(b) {
		b.Run(r.Format.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshalRecord(b *testing.B) {
	for _, r := range benchRecords(b) {
		enc, err := r.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(r.Format.String(), func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UnmarshalRecord(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchRecords(b *testing.B) []*Record {
	key := make([]byte, 32)
	v1 := benchV1Record()
	if err := seal(rand.Reader, key, "db", "alice", v1, make([]byte, 32)); err != nil {
		b.Fatal(err)
	}
	v2 := benchV2Record()
	if err := sealV2(rand.Reader, key, 1, "db", "alice", v2, make([]byte, 32)); err != nil {
		b.Fatal(err)
	}
	return []*Record{v1, v2}
}
