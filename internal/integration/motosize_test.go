package integration

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/mototest"
)

// TestMotoItemSizeLimit pins a documented difference (docs/design-as-built.md,
// "Differences between dynalite, moto and the KMS test server"): moto refuses
// items over 405,000 bytes, below AWS's 409,600 that cloudchain budgets for.
// cloudchain must then report ErrTooLarge and write nothing, as it does for
// any item the server refuses for its size; dynalite stores the same record.
func TestMotoItemSizeLimit(t *testing.T) {
	acct := mototest.NewAccount(t, mototest.Start(t))
	mc := mototest.DynamoDB(t, acct.URL)
	moto := dynamodb.New(mc, dynalitetest.NewTable(t, mc))
	dc, _ := dynalitetest.NewCountingClient(t, dynalitetest.Start(t))
	dyn := dynamodb.New(dc, dynalitetest.NewTable(t, dc))
	ctx := ctxFor(t)
	record := func(size int) *cloudchain.Item {
		return &cloudchain.Item{Service: "svc", User: "big", Records: []*cloudchain.Record{{
			Format:     cloudchain.FormatV1,
			Version:    1,
			Created:    time.Unix(1_700_000_000, 0).UTC(),
			Author:     "tester",
			KeyID:      "test-key",
			Context:    map[string]string{"service": "svc"},
			WrappedKey: []byte("wrapped"),
			Nonce:      bytes.Repeat([]byte{1}, 12),
			Ciphertext: bytes.Repeat([]byte{7}, size),
		}}}
	}
	const inGap = 406_000 // over moto's 405,000, under cloudchain's budget
	if _, err := moto.Save(ctx, nil, record(inGap)); !errors.Is(err, cloudchain.ErrTooLarge) {
		t.Fatalf("moto: Save of a %d-byte record: %v, want ErrTooLarge (has moto's limit changed? update docs/design-as-built.md)", inGap, err)
	}
	if _, err := moto.Load(ctx, "svc", "big"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("moto: a refused Save left something behind: Load = %v", err)
	}
	if _, err := dyn.Save(ctx, nil, record(inGap)); err != nil {
		t.Fatalf("dynalite: Save of a %d-byte record: %v, want it stored (AWS's limit is 409,600 bytes)", inGap, err)
	}
	if _, err := moto.Save(ctx, nil, record(400_000)); err != nil {
		t.Fatalf("moto: Save of a 400,000-byte record: %v", err)
	}
}
