package dynamodb_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// TestStoreRequestBudget checks DESIGN.md's request budget on the wire.
func TestStoreRequestBudget(t *testing.T) {
	e := newEnv(t, dynamodb.WithPageSize(4))
	st := cloudchain.New(e.backend, testkeys.New("k1"),
		cloudchain.WithAuthor(func(context.Context) (string, error) { return "tester", nil }))
	ctx := ctxFor(t)
	check := func(what string, want map[string]int) {
		t.Helper()
		if got := e.counter.Operations(t); !mapsEqual(got, want) {
			t.Errorf("%s sent %v, want %v", what, got, want)
		}
		e.counter.Reset()
	}
	if _, err := st.Put(ctx, "app", "u0", []byte("first")); err != nil {
		t.Fatal(err)
	}
	// DESIGN.md: one read round trip (the secret and the service key ring
	// together) and the conditional write; the first put into a service
	// also creates the key ring item, after one Query of the partition for
	// legacy records (legacy reads are on by default), which also gives the
	// service's first rollback manifest; then the manifest is written and
	// the key ring's manifest flag set.
	check("first put", map[string]int{"BatchGetItem": 1, "Query": 1, "PutItem": 4})
	if _, err := st.Put(ctx, "app", "u0", []byte("second")); err != nil {
		t.Fatal(err)
	}
	// The secret, then the rollback manifest.
	check("second put", map[string]int{"BatchGetItem": 1, "PutItem": 2})
	if sec, err := st.Get(ctx, "app", "u0"); err != nil || string(sec.Value) != "second" {
		t.Fatalf("Get = %v, %v", sec, err)
	}
	check("get", map[string]int{"BatchGetItem": 1})
	for i := 1; i < 10; i++ {
		if _, err := st.Put(ctx, "app", fmt.Sprintf("u%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	e.counter.Reset()
	secs, err := st.GetService(ctx, "app")
	if err != nil || len(secs) != 10 {
		t.Fatalf("GetService = %d secrets, %v", len(secs), err)
	}
	// 10 secrets, the key ring and the manifest in pages of 4: 3 full pages
	// and the empty one that ends the Query, nothing else.
	check("reading a whole service", map[string]int{"Query": 4})
}

// TestStoreLegacyRoundTrip runs the Store's legacy mode and the Python
// client's items through the real server.
func TestStoreLegacyRoundTrip(t *testing.T) {
	e := newEnv(t)
	keys := testkeys.New("k1")
	ctx := ctxFor(t)
	legacy := cloudchain.New(e.backend, keys, cloudchain.WithLegacyWrites(true))
	modern := cloudchain.New(e.backend, keys)

	// An item the Python client wrote.
	blob, _, err := keys.Encrypt(ctx, []byte("from python"), cloudchain.LegacyContext())
	if err != nil {
		t.Fatal(err)
	}
	e.putRaw(t, pythonItem("app", "py", blob))
	if sec, err := modern.Get(ctx, "app", "py"); err != nil || string(sec.Value) != "from python" || sec.Format != "legacy" {
		t.Fatalf("Get of a Python item = %+v, %v", sec, err)
	}

	// A legacy-mode put keeps the item readable by the Python client.
	if v, err := legacy.Put(ctx, "app", "py", []byte("legacy two")); err != nil || v != 2 {
		t.Fatalf("legacy Put = %d, %v", v, err)
	}
	raw := e.getRaw(t, "app", "py")
	secret, ok := raw["Secret"].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatal("a legacy-mode put left no Secret for the Python client")
	}
	ct, err := base64.StdEncoding.DecodeString(secret.Value)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := keys.Decrypt(ctx, keys.KeyID(), ct, cloudchain.LegacyContext())
	if err != nil || string(pt) != "legacy two" {
		t.Fatalf("the Python client's view: %q, %v", pt, err)
	}

	// A modern put upgrades the item and keeps both legacy versions.
	if v, err := modern.Put(ctx, "app", "py", []byte("modern three")); err != nil || v != 3 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	if _, ok := e.getRaw(t, "app", "py")["Secret"]; ok {
		t.Fatal("a modern put left the legacy Secret behind")
	}
	for v, want := range map[int64]string{1: "from python", 2: "legacy two", 3: "modern three"} {
		if sec, err := modern.GetVersion(ctx, "app", "py", v); err != nil || string(sec.Value) != want {
			t.Fatalf("GetVersion(%d) = %v, %v; want %q", v, sec, err, want)
		}
	}
}
