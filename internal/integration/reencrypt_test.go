package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
)

// TestReencryptRequestBudget: re-encrypting a service of 60 secrets (two
// versions each) on dynalite and the KMS test server costs, on the wire,
// one GenerateDataKey and one Decrypt, the Query pages of the partition
// twice (the run and its final check), one PutItem per secret, one for the
// key ring and one for the rollback manifest, and one BatchGetItem (the
// manifest, read again before it is moved); no KMS call per record. The
// secrets and their history read back unchanged, under the new version.
func TestReencryptRequestBudget(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	for v := range 2 {
		var values []cloudchain.SecretValue
		for i := range 60 {
			values = append(values, cloudchain.SecretValue{User: fmt.Sprintf("u%02d", i), Value: fmt.Appendf(nil, "v%d-%d", v, i)})
		}
		if _, err := s.store.PutMany(ctx, "bulk", values); err != nil {
			t.Fatal(err)
		}
	}
	s.ddb.Reset()
	s.kms.ResetCounts()
	start := time.Now()
	rep, err := s.store.ReencryptService(ctx, "bulk")
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// 60 secrets, the key ring and the manifest in pages of 25: 3 pages.
	s.expect(t, "re-encrypting 60 secrets", map[string]int{"Query": 6, "PutItem": 62, "BatchGetItem": 1}, map[string]int{"GenerateDataKey": 1, "Decrypt": 1})
	if rep.Rewritten != 60 || rep.Records != 120 || rep.Checked != 120 || rep.KeyVersion != 2 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("re-encrypting 60 secrets (120 records) on dynalite took %v", took)
	for i := range 60 {
		user := fmt.Sprintf("u%02d", i)
		hist, err := s.store.History(ctx, "bulk", user)
		if err != nil || len(hist) != 2 {
			t.Fatalf("%s: %d versions, %v", user, len(hist), err)
		}
		for _, h := range hist {
			sec, err := s.store.GetVersion(ctx, "bulk", user, h.Version)
			if err != nil || string(sec.Value) != fmt.Sprintf("v%d-%d", h.Version-1, i) || sec.ServiceKey != 2 || h.Auth != cloudchain.AuthVerified {
				t.Fatalf("%s version %d: %+v, %v", user, h.Version, sec, err)
			}
		}
	}
}
