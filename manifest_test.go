package cloudchain

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func sealedManifest(t testing.TB, users map[string]manEntry) *Record {
	m := &manifest{KeyVersion: 1}
	for u, e := range users {
		e.Hash = hashUser(u)
		m.set(e)
	}
	rec := &Record{Format: FormatManifest, Version: 3}
	if err := m.seal("db", rec, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestManifestRoundTrip: what is sealed decodes, verifies, and looks up;
// the merge rule keeps the newest entry, and at one version a purge.
func TestManifestRoundTrip(t *testing.T) {
	rec := sealedManifest(t, map[string]manEntry{"alice": {Version: 7}, "bob": {Version: 2, Purged: true}})
	m, err := decodeManifest("db", rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.verify("db", rec, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := m.verify("other", rec, make([]byte, 32)); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("verified as another service's: %v", err)
	}
	if e, ok := m.lookup("alice"); !ok || e.Version != 7 || e.Purged {
		t.Fatalf("alice = %+v, %v", e, ok)
	}
	if e, ok := m.lookup("bob"); !ok || e.Version != 2 || !e.Purged {
		t.Fatalf("bob = %+v, %v", e, ok)
	}
	if _, ok := m.lookup("carol"); ok {
		t.Fatal("carol is listed")
	}
	for _, tc := range []struct {
		e       manEntry
		changed bool
		want    manEntry
	}{
		{manEntry{Version: 6}, false, manEntry{Version: 7}},
		{manEntry{Version: 7, Purged: true}, true, manEntry{Version: 7, Purged: true}},
		{manEntry{Version: 7}, false, manEntry{Version: 7, Purged: true}},
		{manEntry{Version: 8}, true, manEntry{Version: 8}},
	} {
		tc.e.Hash, tc.want.Hash = hashUser("alice"), hashUser("alice")
		if changed, _ := m.set(tc.e); changed != tc.changed {
			t.Fatalf("set(%+v) changed = %v", tc.e, changed)
		}
		if got, _ := m.lookup("alice"); got != tc.want {
			t.Fatalf("after set(%+v): %+v, want %+v", tc.e, got, tc.want)
		}
	}
}

// TestManifestFull: past maxManifestEntries, purged entries make room
// first, then new secrets go unlisted.
func TestManifestFull(t *testing.T) {
	m := &manifest{KeyVersion: 1}
	for i := range maxManifestEntries {
		m.set(manEntry{Hash: hashUser(fmt.Sprint(i)), Version: 1, Purged: i == 10})
	}
	if changed, full := m.set(manEntry{Hash: hashUser("new-1"), Version: 1}); !changed || full {
		t.Fatalf("a purged entry should make room: changed %v full %v", changed, full)
	}
	if _, ok := m.lookup("10"); ok {
		t.Fatal("the purged entry is still listed")
	}
	if changed, full := m.set(manEntry{Hash: hashUser("new-2"), Version: 1}); changed || !full {
		t.Fatalf("a full manifest took a new entry: changed %v full %v", changed, full)
	}
	rec := &Record{Format: FormatManifest, Version: 1}
	if err := m.seal("db", rec, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ciphertext) > 350_000 {
		t.Fatalf("a full manifest is %d bytes, too close to DynamoDB's 400 KB item limit", len(rec.Ciphertext))
	}
	if _, err := decodeManifest("db", rec); err != nil {
		t.Fatalf("a full manifest does not decode: %v", err)
	}
}

// FuzzDecodeManifest: decoding never panics, refuses with an error wrapping
// ErrAuthentication, and what decodes has exactly one encoding.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(sealedManifest(f, map[string]manEntry{"alice": {Version: 7}, "bob": {Version: 300, Purged: true}}).Ciphertext)
	f.Add(sealedManifest(f, nil).Ciphertext)
	f.Add([]byte("CCM1"))
	f.Add([]byte("CCM1\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Record{Format: FormatManifest, Version: 1, Ciphertext: data}
		m, err := decodeManifest("db", r)
		if err != nil {
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("error %v does not wrap ErrAuthentication", err)
			}
			return
		}
		if got := appendField(m.appendBody(nil), m.mac); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding changed the manifest")
		}
		for _, e := range m.Entries {
			if e.Version < 1 {
				t.Fatalf("entry with version %d", e.Version)
			}
		}
	})
}
