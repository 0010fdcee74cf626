package memory_test

import (
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/memory"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) cloudchain.Backend { return memory.New() })
}
