package memory_test

import (
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/memory"
)

func TestConformance(t *testing.T) {
	backendtest.RunWithOptions(t, backendtest.Options{Damage: damage}, func(t *testing.T) cloudchain.Backend { return memory.New() })
}

// damage stores an item whose only record is encoded as data.
func damage(t *testing.T, b cloudchain.Backend, service, user string, records ...[]byte) {
	b.(*memory.Backend).SetRaw(service, user, records...)
}
