package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/memory"
)

func TestConformance(t *testing.T) {
	backendtest.RunWithOptions(t, backendtest.Options{Damage: damage}, func(t *testing.T) cloudchain.Backend { return memory.New() })
}

// damage stores an item whose only record is encoded as data.
func damage(t *testing.T, b cloudchain.Backend, service, user string, data []byte) {
	m := b.(*memory.Backend)
	if _, err := m.Load(context.Background(), service, user); errors.Is(err, cloudchain.ErrNotFound) {
		rec := &cloudchain.Record{Format: cloudchain.FormatV1, Version: 1}
		if _, err := m.Save(context.Background(), nil, &cloudchain.Item{Service: service, User: user, Records: []*cloudchain.Record{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	m.Corrupt(service, user, data)
}
