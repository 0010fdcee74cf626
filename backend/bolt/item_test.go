package bolt

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
)

func testRecord(version int64) *cloudchain.Record {
	return &cloudchain.Record{
		Format:     cloudchain.FormatV1,
		Version:    version,
		Created:    time.Unix(1_800_000_000, 5).UTC(),
		Author:     "me",
		Comment:    "c",
		KeyID:      "local:0011223344556677",
		Context:    cloudchain.ServiceContext("svc"),
		WrappedKey: bytes.Repeat([]byte{7}, 61),
		Nonce:      bytes.Repeat([]byte{8}, 12),
		Ciphertext: bytes.Repeat([]byte{9}, 20),
	}
}

func mustEncode(t testing.TB, versions ...int64) []byte {
	var rs []*cloudchain.Record
	for _, v := range versions {
		rs = append(rs, testRecord(v))
	}
	b, _, err := encodeItem(rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestItemRoundTrip(t *testing.T) {
	data := mustEncode(t, 3, 2, 1)
	it, err := decodeItem("s", "u", data, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(it.Records) != 3 || !reflect.DeepEqual(it.Records[1], testRecord(2)) {
		t.Fatalf("decoded %+v", it.Records)
	}
	cur, err := decodeItem("s", "u", data, false)
	if err != nil || len(cur.Records) != 1 || cur.Version() != 3 {
		t.Fatalf("current only: %v", err)
	}
	if v, err := storedVersion(data); err != nil || v != 3 {
		t.Fatalf("storedVersion: %d, %v", v, err)
	}
}

func TestDecodeItemMalformed(t *testing.T) {
	good := mustEncode(t, 2, 1)
	tests := map[string][]byte{
		"empty":          nil,
		"magic only":     []byte(itemMagic),
		"wrong magic":    append([]byte("CCI2"), good[4:]...),
		"zero records":   append([]byte(itemMagic), 0),
		"count too big":  append([]byte(itemMagic), 0xff, 0xff, 0x03, 1, 2),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"not decreasing": mustEncodeUnchecked(testRecord(1), testRecord(2)),
		"bad record":     mustEncodeRaw([]byte("CCR1garbage")),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeItem("s", "u", data, true); !errors.Is(err, cloudchain.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// mustEncodeUnchecked encodes records without encodeItem's checks.
func mustEncodeUnchecked(rs ...*cloudchain.Record) []byte {
	var raws [][]byte
	for _, r := range rs {
		b, _ := r.MarshalBinary()
		raws = append(raws, b)
	}
	return mustEncodeRaw(raws...)
}

func mustEncodeRaw(raws ...[]byte) []byte {
	b := append([]byte(itemMagic), byte(len(raws)))
	for _, r := range raws {
		b = append(b, byte(len(r)))
		b = append(b, r...)
	}
	return b
}

// FuzzDecodeItem checks that decoding never panics, that every failure wraps
// ErrMalformed, and that whatever decodes re-encodes to the same item.
func FuzzDecodeItem(f *testing.F) {
	f.Add(mustEncode(f, 1))
	f.Add(mustEncode(f, 5, 4, 2))
	f.Add(mustEncodeUnchecked(testRecord(1), testRecord(1)))
	f.Add(mustEncodeRaw([]byte("CCR1")))
	f.Add([]byte(itemMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := decodeItem("s", "u", data, true)
		if err != nil {
			if !errors.Is(err, cloudchain.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if _, err2 := decodeItem("s", "u", data, false); err2 == nil {
				// Decoding the current record alone may succeed where the
				// whole item fails; storedVersion must agree with it.
				if _, err3 := storedVersion(data); err3 != nil {
					t.Fatalf("storedVersion disagrees with decodeItem: %v", err3)
				}
			}
			return
		}
		cur, err := decodeItem("s", "u", data, false)
		if err != nil || cur.Version() != it.Version() {
			t.Fatalf("current-only decode: %v, version %d, want %d", err, cur.Version(), it.Version())
		}
		again, kept, err := encodeItem(it.Records)
		if err != nil || kept != len(it.Records) {
			t.Fatalf("re-encoding a decoded item: %v", err)
		}
		it2, err := decodeItem("s", "u", again, true)
		if err != nil {
			t.Fatalf("decoding a re-encoded item: %v", err)
		}
		// Damaged earlier versions are left out on decoding, so they are
		// gone from the re-encoded item: everything else must be equal.
		if it2.DamagedHistory != 0 {
			t.Fatalf("a re-encoded item has %d damaged versions", it2.DamagedHistory)
		}
		it2.DamagedHistory = it.DamagedHistory
		if !reflect.DeepEqual(it, it2) {
			t.Fatalf("re-encoded item differs:\n%+v\n%+v", it, it2)
		}
	})
}

// storedVersion is the version that Save and Remove compare.
func storedVersion(v []byte) (int64, error) {
	_, version, err := storedCurrent(v)
	return version, err
}
