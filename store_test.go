package cloudchain_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

func TestLegacyReadsCanBeSwitchedOff(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	keys := testkeys.New("k")
	writer := cloudchain.New(b, keys, cloudchain.WithLegacyWrites(true))
	if _, err := writer.Put(ctx, "db", "alice", []byte("legacy")); err != nil {
		t.Fatal(err)
	}
	if sec, err := cloudchain.New(b, keys).Get(ctx, "db", "alice"); err != nil || string(sec.Value) != "legacy" || sec.Format != "legacy" {
		t.Fatalf("legacy read (default on): %+v, %v", sec, err)
	}
	_, err := cloudchain.New(b, keys, cloudchain.WithLegacyReads(false)).Get(ctx, "db", "alice")
	if !errors.Is(err, cloudchain.ErrAuthentication) || !strings.Contains(err.Error(), "legacy reads are off") {
		t.Fatalf("legacy read with legacy reads off: err = %v", err)
	}
}

func TestLegacyWritesNeedAnEncrypterAndFit(t *testing.T) {
	ctx := context.Background()
	st := cloudchain.New(memory.New(), testkeys.New("k"), cloudchain.WithLegacyWrites(true))
	if _, err := st.Put(ctx, "db", "alice", make([]byte, cloudchain.MaxLegacySecret+1)); !errors.Is(err, cloudchain.ErrTooLarge) {
		t.Fatalf("a 4097-byte legacy secret: err = %v, want ErrTooLarge", err)
	}
	if _, err := st.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("a refused put wrote something: %v", err)
	}
	noEnc := cloudchain.New(memory.New(), struct{ cloudchain.KeyProvider }{testkeys.New("k")}, cloudchain.WithLegacyWrites(true))
	if _, err := noEnc.Put(ctx, "db", "alice", []byte("x")); !errors.Is(err, cloudchain.ErrUnsupported) {
		t.Fatalf("legacy writes without an Encrypter: err = %v, want ErrUnsupported", err)
	}
}

func TestErrorsNameTheSecretOnce(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	st := cloudchain.New(b, testkeys.New("k"))
	if _, err := st.Put(ctx, "db", "alice", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, err := st.Put(ctx, "db", "alice", []byte("v2"), cloudchain.IfVersion(0))
	if err == nil || strings.Count(err.Error(), "db/alice") != 1 {
		t.Fatalf("error %q should name db/alice exactly once", err)
	}
	_, err = st.Get(ctx, "db", "bob")
	if err == nil || err.Error() != "secret not found: db/bob" {
		t.Fatalf("not found error = %q", err)
	}
}

func TestPurgeRemovesADamagedItem(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	st := cloudchain.New(b, testkeys.New("k"))
	if _, err := st.Put(ctx, "db", "alice", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	b.Corrupt("db", "alice", []byte("garbage"))
	if _, err := st.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrMalformed) {
		t.Fatalf("Get of a damaged item: err = %v, want ErrMalformed", err)
	}
	if _, err := st.Put(ctx, "db", "alice", []byte("v2")); !errors.Is(err, cloudchain.ErrMalformed) {
		t.Fatalf("Put over a damaged item: err = %v, want ErrMalformed (never a blind overwrite)", err)
	}
	if err := st.Purge(ctx, "db", "alice"); err != nil {
		t.Fatalf("Purge of a damaged item: %v", err)
	}
	// The rollback manifest listed version 1: numbering goes on from there,
	// so the purged version's number is never reused.
	if v, err := st.Put(ctx, "db", "alice", []byte("fresh")); err != nil || v != 2 {
		t.Fatalf("Put after purging the damaged item = %d, %v (want version 2)", v, err)
	}
}

// TestServiceKeyCache: with WithServiceKeyCache, re-reading a service within
// the time to live makes no key-provider call; without it, every read does.
func TestServiceKeyCache(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	keys := testkeys.New("k")
	if _, err := cloudchain.New(b, keys).PutMany(ctx, "db", []cloudchain.SecretValue{{User: "a", Value: []byte("1")}, {User: "b", Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	decrypts := func() int64 { _, d, _ := keys.Counts(); return d }
	for _, tc := range []struct {
		name string
		opts []cloudchain.Option
		want int64
	}{
		{"NoCache", nil, 3},
		{"Cache", []cloudchain.Option{cloudchain.WithServiceKeyCache(time.Minute)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := cloudchain.New(b, keys, tc.opts...)
			before := decrypts()
			for range 3 {
				if secrets, err := st.GetServices(ctx, "db"); err != nil || len(secrets) != 2 {
					t.Fatalf("GetServices = %d, %v", len(secrets), err)
				}
			}
			if n := decrypts() - before; n != tc.want {
				t.Fatalf("3 reads made %d decrypts, want %d", n, tc.want)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
