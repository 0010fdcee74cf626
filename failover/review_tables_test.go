package failover_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/failover"
)

// TestStateFileSharedAcrossTables: the state file's key is
// (service, region, endpoint) only. Throttling is per table (provisioned
// throughput) or per account, not a region outage, yet one process whose
// table "app-a" is throttled makes every other process of the user, reading
// another table (or another account through another profile) in the same
// region, skip that region's primary and read from replicas for the skip
// period, with no notice (see TestStateFileSkipIsSilent).
func TestStateFileSharedAcrossTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regions.json")
	c := newClock()
	mk := func(primary *region) *failover.Backend {
		return failover.New([]failover.Region{{Name: "us-east-1", Backend: primary}, {Name: "us-west-2", Backend: newRegion()}},
			failover.WithStateFile(path), failover.WithClock(c.now))
	}
	tableA := newRegion()
	tableA.setFail(fmt.Errorf("%w: dynamodb:GetItem on table %q kept failing after retries", cloudchain.ErrThrottled, "app-a"))
	if _, err := mk(tableA).Load(context.Background(), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatal(err)
	}
	tableB := newRegion() // healthy, another table
	if _, err := mk(tableB).Load(context.Background(), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatal(err)
	}
	if tableB.count("Load") != 1 {
		t.Errorf("a healthy primary of another table was skipped because table app-a was throttled: %d calls, want 1", tableB.count("Load"))
	}
}
