package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/cloudchain/cloudchain"
)

var _ cloudchain.BatchLoader = (*Backend)(nil)

// LoadBatch loads the items of users of service, with their whole history,
// in one read transaction. The result has one entry per user, in the order
// of users, nil for a user with no item.
func (b *Backend) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	for _, u := range users {
		if err := checkID(service, u); err != nil {
			return nil, err
		}
	}
	out := make([]*cloudchain.Item, len(users))
	_, err := b.view(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		if bk == nil {
			return nil
		}
		for i, u := range users {
			v := bk.Get(itemKey(service, u))
			if v == nil {
				continue
			}
			it, err := decodeItem(service, u, v, true)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", service, u, err)
			}
			out[i] = it
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading %d items of %s: %w", len(users), service, err)
	}
	return out, nil
}
