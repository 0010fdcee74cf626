package bolt

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"go.etcd.io/bbolt"

	"github.com/cloudchain/cloudchain"
)

var _ cloudchain.Discarder = (*Backend)(nil)

// Discard removes whatever is stored for (service, user), even an item that
// does not decode, unconditionally.
func (b *Backend) Discard(ctx context.Context, service, user string) error {
	if err := checkID(service, user); err != nil {
		return err
	}
	if _, err := os.Stat(b.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return b.update(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		if bk == nil {
			return nil
		}
		return bk.Delete(itemKey(service, user))
	})
}
