package failover_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain/failover"
)

// TestConcurrentReadsRace: concurrent reads of one Backend and Keys
// with a state file while the primary goes down and comes back; run with
// -race. It passes (no race found).
func TestConcurrentReadsRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regions.json")
	p, r := newRegion(), newRegion()
	b := failover.New([]failover.Region{{Name: "us-east-1", Backend: p}, {Name: "us-west-2", Backend: r}},
		failover.WithStateFile(path), failover.WithNotify(func(failover.Event) {}))
	k := failover.NewKeys([]failover.KeyRegion{{Name: "us-east-1", Provider: &countingKeys{}}, {Name: "us-west-2", Provider: &countingKeys{}}},
		failover.WithStateFile(path))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if (g+i)%5 == 0 {
					p.setFail(downErr)
				} else if (g+i)%7 == 0 {
					p.setFail(nil)
				}
				b.Load(context.Background(), "db", "alice")
				k.Decrypt(context.Background(), "k", nil, nil)
			}
		}()
	}
	wg.Wait()
}
