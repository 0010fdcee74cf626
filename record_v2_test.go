package cloudchain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

const vectorsV2File = "testdata/record-v2-vectors.json"

// makeV2Vectors seals records and a key ring under a fixed service key with
// a counting random source, so that the bytes are reproducible.
func makeV2Vectors(t *testing.T) []vector {
	t.Helper()
	serviceKey := bytes.Repeat([]byte{0x24}, 32)
	created := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	rand := &counterReader{}
	var out []vector
	for _, c := range []struct {
		name, service, user, plaintext string
		version                        int64
		deleted                        bool
	}{
		{"v2-ascii", "db", "alice", "hunter2", 1, false},
		{"v2-empty", "db", "empty", "", 7, false},
		{"v2-unicode", "dienst ü", "benutzer ø", "geheim ✓", 3, false},
		{"v2-deletion-marker", "db", "alice", "", 2, true},
	} {
		r := &Record{Version: c.version, Created: created, Author: "alice", Comment: "kat", Deleted: c.deleted}
		if err := sealV2(rand, serviceKey, 1, c.service, c.user, r, []byte(c.plaintext)); err != nil {
			t.Fatal(err)
		}
		enc, _ := r.MarshalBinary()
		out = append(out, vector{Name: c.name, Service: c.service, User: c.user, DataKey: hex.EncodeToString(serviceKey),
			Record: hex.EncodeToString(enc), Plaintext: hex.EncodeToString([]byte(c.plaintext))})
	}
	ring := &keyring{Entries: []keyEntry{{Version: 1, KeyID: "local:0011223344556677", Context: ServiceContext("db"), Wrapped: []byte("wrapped service key")}}, Sealed: true}
	rec := &Record{Format: FormatKeyring, Version: 1, Created: created, Author: "alice"}
	if err := ring.seal("db", rec, serviceKey); err != nil {
		t.Fatal(err)
	}
	enc, _ := rec.MarshalBinary()
	out = append(out, vector{Name: "keyring", Service: "db", User: ServiceKeyUser, DataKey: hex.EncodeToString(serviceKey), Record: hex.EncodeToString(enc)})
	return out
}

// TestKnownAnswerVectorsV2: records sealed under a service key, and a key
// ring, as this release writes them, must open the same way forever.
func TestKnownAnswerVectorsV2(t *testing.T) {
	if *update {
		data, _ := json.MarshalIndent(makeV2Vectors(t), "", "  ")
		if err := os.WriteFile(vectorsV2File, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(vectorsV2File)
	if err != nil {
		t.Fatalf("%v (run go test -run TestKnownAnswerVectorsV2 -update once to create it)", err)
	}
	var vectors []vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 5 {
		t.Fatalf("%d vectors, want 5", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw, _ := hex.DecodeString(v.Record)
			key, _ := hex.DecodeString(v.DataKey)
			r, err := UnmarshalRecord(raw)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if again, _ := r.MarshalBinary(); !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding changed the record")
			}
			if r.Format == FormatKeyring {
				ring, err := decodeKeyring(v.Service, r)
				if err != nil || !ring.Sealed || len(ring.Entries) != 1 {
					t.Fatalf("key ring: %+v, %v", ring, err)
				}
				if err := ring.verify(v.Service, r, key); err != nil {
					t.Fatalf("MAC: %v", err)
				}
				if err := ring.verify("other", r, key); !errors.Is(err, ErrAuthentication) {
					t.Fatalf("the ring verified for another service: %v", err)
				}
				ring.Sealed = false
				if err := ring.verify(v.Service, r, key); !errors.Is(err, ErrAuthentication) {
					t.Fatalf("the ring verified with its flag cleared: %v", err)
				}
				return
			}
			pt, err := openV2(key, v.Service, v.User, r)
			if err != nil {
				t.Fatalf("opening: %v", err)
			}
			if want, _ := hex.DecodeString(v.Plaintext); !bytes.Equal(pt, want) {
				t.Fatalf("plaintext %x, want %x", pt, want)
			}
			for name, mutate := range map[string]func(r *Record) (string, string){
				"user":        func(r *Record) (string, string) { return v.Service, v.User + "x" },
				"service":     func(r *Record) (string, string) { return v.Service + "x", v.User },
				"version":     func(r *Record) (string, string) { r.Version++; return v.Service, v.User },
				"key version": func(r *Record) (string, string) { r.KeyVersion++; return v.Service, v.User },
				"deleted":     func(r *Record) (string, string) { r.Deleted = !r.Deleted; return v.Service, v.User },
				"author":      func(r *Record) (string, string) { r.Author += "x"; return v.Service, v.User },
				"salt":        func(r *Record) (string, string) { r.Salt[0] ^= 1; return v.Service, v.User },
			} {
				c, _ := UnmarshalRecord(raw)
				svc, user := mutate(c)
				if _, err := openV2(key, svc, user, c); !errors.Is(err, ErrAuthentication) {
					t.Errorf("opened with another %s: %v", name, err)
				}
			}
		})
	}
}

func FuzzDecodeKeyring(f *testing.F) {
	ring := &keyring{Entries: []keyEntry{{Version: 1, KeyID: "k", Context: ServiceContext("db"), Wrapped: []byte("w")}}}
	rec := &Record{Format: FormatKeyring, Version: 1}
	if err := ring.seal("db", rec, make([]byte, 32)); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Ciphertext)
	f.Add([]byte("CCK1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Record{Format: FormatKeyring, Version: 1, Ciphertext: data}
		k, err := decodeKeyring("db", r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes.
		if got := appendField(k.appendBody(nil), k.mac); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding changed the key ring")
		}
	})
}
