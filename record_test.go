package cloudchain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata (never do this to make a failing test pass)")

// vector is a known-answer test: a record as written by some release, the
// data key that sealed it and the plaintext it must open to, forever.
type vector struct {
	Name      string `json:"name"`
	Service   string `json:"service"`
	User      string `json:"user"`
	DataKey   string `json:"data_key_hex"`
	Record    string `json:"record_hex"`
	Plaintext string `json:"plaintext_hex"`
}

const vectorsFile = "testdata/record-vectors.json"

// counterReader returns bytes 0, 1, 2, ... so that vectors are reproducible.
type counterReader struct{ n byte }

func (c *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func makeVectors(t *testing.T) []vector {
	t.Helper()
	key := bytes.Repeat([]byte{0x42}, 32)
	created := time.Date(2026, 11, 22, 15, 4, 5, 123456789, time.UTC)
	cases := []struct {
		name, service, user, comment, plaintext string
		version                                 int64
	}{
		{"ascii", "db", "alice", "", "hunter2", 1},
		{"empty", "db", "empty", "", "", 2},
		{"unicode-ids", "dienst ü", "benutzer ø", "rotated", "geheim", 3},
		{"binary", "bin", "all-bytes", "", string(func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}()), 42},
	}
	var out []vector
	rand := &counterReader{}
	for _, c := range cases {
		r := &Record{
			Format:     FormatV1,
			Version:    c.version,
			Created:    created,
			Author:     "arn:aws:iam::123456789012:user/alice",
			Comment:    c.comment,
			KeyID:      "local:0011223344556677",
			Context:    ServiceContext(c.service),
			WrappedKey: []byte("wrapped data key stands here"),
		}
		if err := seal(rand, key, c.service, c.user, r, []byte(c.plaintext)); err != nil {
			t.Fatal(err)
		}
		enc, _ := r.MarshalBinary()
		out = append(out, vector{
			Name: c.name, Service: c.service, User: c.user,
			DataKey:   hex.EncodeToString(key),
			Record:    hex.EncodeToString(enc),
			Plaintext: hex.EncodeToString([]byte(c.plaintext)),
		})
	}
	// A deletion marker and a legacy record in our encoding.
	for _, r := range []*Record{
		{Format: FormatV1, Version: 5, Created: created, Author: "alice", Deleted: true},
		{Format: FormatLegacy, Version: 1, Context: LegacyContext(), Ciphertext: []byte("kms blob")},
	} {
		enc, _ := r.MarshalBinary()
		out = append(out, vector{Name: "no-secret-" + r.Format.String(), Service: "db", User: "alice", Record: hex.EncodeToString(enc)})
	}
	return out
}

func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		data, _ := json.MarshalIndent(makeVectors(t), "", "  ")
		if err := os.WriteFile(vectorsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (run go test -run TestKnownAnswerVectors -update once to create it)", err)
	}
	var vectors []vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 6 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw, _ := hex.DecodeString(v.Record)
			r, err := UnmarshalRecord(raw)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			again, _ := r.MarshalBinary()
			if !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding changed the record:\n got %x\nwant %x", again, raw)
			}
			if v.DataKey == "" {
				return
			}
			key, _ := hex.DecodeString(v.DataKey)
			pt, err := open(key, v.Service, v.User, r)
			if err != nil {
				t.Fatalf("opening: %v", err)
			}
			if want, _ := hex.DecodeString(v.Plaintext); !bytes.Equal(pt, want) {
				t.Fatalf("plaintext %x, want %x", pt, want)
			}
			// Bound to its row: any other row fails.
			if _, err := open(key, v.Service, v.User+"x", r); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("opened under another user: %v", err)
			}
			if _, err := open(key, v.Service+"x", v.User, r); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("opened under another service: %v", err)
			}
			r.Version++
			if _, err := open(key, v.Service, v.User, r); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("opened as another version: %v", err)
			}
		})
	}
}

func TestUnmarshalRecordRejects(t *testing.T) {
	good, _ := (&Record{Format: FormatV1, Version: 1, KeyID: "k", Nonce: make([]byte, 12), Ciphertext: make([]byte, 20)}).MarshalBinary()
	cases := map[string][]byte{
		"empty":     nil,
		"bad magic": append([]byte("XXXX"), good[4:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"future format": func() []byte {
			b := append([]byte{}, good...)
			b[4] = 9
			return b
		}(),
		"unknown flag": func() []byte {
			b := append([]byte{}, good...)
			b[5] = 0x80
			return b
		}(),
		"version zero": func() []byte {
			b, _ := (&Record{Format: FormatV1}).MarshalBinary()
			return b
		}(),
		"huge length": append(append([]byte{}, good[:len(recordMagic)+4]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := UnmarshalRecord(data); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "record-vectors.json")); err == nil {
		var vectors []vector
		_ = json.Unmarshal(data, &vectors)
		for _, v := range vectors {
			raw, _ := hex.DecodeString(v.Record)
			f.Add(raw)
		}
	}
	f.Add([]byte("CCR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := UnmarshalRecord(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc, _ := r.MarshalBinary()
		r2, err := UnmarshalRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		enc2, _ := r2.MarshalBinary()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable")
		}
	})
}

func TestValidateID(t *testing.T) {
	cases := []struct {
		service, user string
		want          string // substring of the error, "" for valid
	}{
		{"db", "alice", ""},
		{"dienst ü", "ø user@example.com", ""},
		{strings.Repeat("s", MaxServiceLen), strings.Repeat("u", MaxUserLen), ""},
		{"", "alice", "service name is empty"},
		{"db", "", "user name is empty"},
		{"db\x7f", "alice", "control character"},
		{"db", "al\nice", "control character (U+000A) at byte 2"},
		{"db", "\xff\xfe", "not valid UTF-8"},
		{strings.Repeat("s", MaxServiceLen+1), "u", "2049 bytes long, the limit is 2048"},
		{"s", strings.Repeat("u", MaxUserLen+1), "1025 bytes long, the limit is 1024"},
	}
	for _, c := range cases {
		err := ValidateID(c.service, c.user)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidateID(%.20q, %.20q) = %v, want nil", c.service, c.user, err)
		case c.want != "" && (!errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ValidateID(%.20q, %.20q) = %v, want ErrInvalidID with %q", c.service, c.user, err, c.want)
		}
	}
}
