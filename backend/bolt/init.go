package bolt

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"go.etcd.io/bbolt"
)

// Init creates the database file (and its directory) with the current layout
// if it does not exist yet, for `cchain setup`. It reports whether it created
// the file; on an existing file it only checks the layout.
func (b *Backend) Init(ctx context.Context) (created bool, err error) {
	_, statErr := os.Stat(b.path)
	created = errors.Is(statErr, fs.ErrNotExist)
	err = b.update(ctx, func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(secretsBucket)
		return err
	})
	return created, err
}
