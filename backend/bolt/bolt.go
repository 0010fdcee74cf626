// Package bolt implements cloudchain's embedded backend: a single bbolt
// database file on the local disk. It is the default backend, and needs no
// server and no cloud account.
//
// # Locking
//
// The backend opens the database file for each operation and closes it
// before the operation returns, so no process holds the file longer than one
// operation: a long-lived Store in a library user never blocks a cchain
// command. Reads open the file read-only under a shared lock; writes open
// it read-write under an exclusive lock. A process that cannot take the lock
// within the lock timeout (WithTimeout, default 10s) gets an error wrapping
// cloudchain.ErrLocked. The wait polls the lock and ends as soon as ctx is
// done, with an error wrapping ctx.Err() (on Linux and the BSDs; elsewhere
// bbolt waits by itself and only the timeout ends the wait). Writes from one
// Backend value are also serialised in-process, so goroutines do not poll
// the file lock against each other.
//
// Reading a file that does not exist yet is not an error: Load reports
// cloudchain.ErrNotFound and listings are empty, and the file is not
// created. The first write creates the file with mode 0600, and its
// directory with mode 0700: it initialises the file under a temporary name
// and hard-links it into place, so the file never exists half made.
//
// # Damaged files
//
// A file that is empty (0 bytes), shorter than its meta page says, not a
// bbolt file, or whose pages are damaged gives an error wrapping
// cloudchain.ErrCorrupt that names the file, from every method, and never a
// panic and never ErrNotFound: bbolt panics or faults on bad pages, and the
// backend recovers at its boundary (with runtime/debug.SetPanicOnFault for
// reads through the memory map). An item whose bytes do not decode gives
// ErrMalformed instead. bbolt's full consistency check (Tx.Check) is not
// run: it reads every page, and it does so in a goroutine of its own where a
// fault on a wild page id cannot be recovered.
//
// Callbacks given to Services and Items run after the file is closed, so
// they may call back into the backend, including to write.
//
// # Layout
//
// The bucket "secrets" maps service + "\x00" + user to an encoded item.
// Service and user names have no control characters (see
// cloudchain.ValidateID), so the separator is unambiguous and the users of a
// service are one contiguous key range. An encoded item is
//
//	"CCI1" || uvarint(n) || n × (uvarint(len) || record)
//
// where each record is a cloudchain.Record in its MarshalBinary encoding,
// newest first. The bucket "meta" holds the layout version under "layout";
// a file with a newer layout is refused with cloudchain.ErrUnsupported
// rather than misread.
//
// # Consistency
//
// Save and Remove compare the stored item's current record, byte for byte,
// with the one the caller read and write in the same bbolt transaction, so
// concurrent writers, in this process or others, never lose an update.
// bbolt syncs every transaction to disk before it commits, so a crash at any
// point leaves either the old or the new item.
//
// # Limits
//
// A single encoded record may be at most MaxRecordSize bytes, the most a
// record decoder accepts for one field. A larger current record is refused
// with cloudchain.ErrTooLarge; the oldest history is dropped to keep an item
// within MaxItemSize.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudchain/cloudchain"
	bbolt "go.etcd.io/bbolt"
)

var _ cloudchain.Backend = (*Backend)(nil)

// DefaultTimeout is how long an operation waits for the file lock unless
// WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// Limits on what the backend stores.
const (
	// MaxRecordSize is the largest encoded record the backend writes.
	MaxRecordSize = 16 << 20
	// MaxItemSize is the largest encoded item the backend writes; older
	// history is dropped to stay within it.
	MaxItemSize = 64 << 20
)

// LayoutVersion is the version of the database layout this package writes.
const LayoutVersion = 1

var (
	secretsBucket = []byte("secrets")
	metaBucket    = []byte("meta")
	layoutKey     = []byte("layout")
)

const itemMagic = "CCI1"

// An Option configures a Backend.
type Option func(*Backend)

// WithTimeout sets how long an operation waits for another process to
// release the file lock before it fails with cloudchain.ErrLocked. Zero or
// less means one attempt with no waiting.
func WithTimeout(d time.Duration) Option {
	return func(b *Backend) { b.timeout = d }
}

// Backend is a cloudchain.Backend over a bbolt file. It holds no open file
// between operations and is safe for concurrent use.
type Backend struct {
	path    string
	timeout time.Duration
	// writeMu serialises this value's writers, so that they queue in
	// process instead of polling the file lock.
	writeMu chan struct{}
}

// Open returns a backend over the bbolt file at path. It does not open or
// create the file; every operation does, as the package doc describes.
func Open(path string, opts ...Option) (*Backend, error) {
	if path == "" {
		return nil, errors.New("bolt backend: empty path")
	}
	b := &Backend{path: path, timeout: DefaultTimeout, writeMu: make(chan struct{}, 1)}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// DefaultPath returns the database file's path in the cloudchain data
// directory dataDir (for example $XDG_DATA_HOME/cloudchain). The package
// reads no environment variables; the caller resolves dataDir.
func DefaultPath(dataDir string) string {
	return filepath.Join(dataDir, "secrets.db")
}

// Path returns the database file's path.
func (b *Backend) Path() string { return b.path }

// lockTimeout is the lock wait for one operation: the configured timeout,
// cut short by the context's deadline.
func (b *Backend) lockTimeout(ctx context.Context) time.Duration {
	t := b.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < t {
			t = left
		}
	}
	if t <= 0 {
		// bbolt waits forever on 0; any duration under its 50ms retry
		// interval means a single attempt.
		t = time.Nanosecond
	}
	return t
}

func (b *Backend) lockedError(waited time.Duration) error {
	return fmt.Errorf("%w: another cchain process holds %s (waited %v)", cloudchain.ErrLocked, b.path, waited)
}

// checkLayout refuses a file written with a layout this package does not
// know, and records the layout version in a writable file that has none.
func checkLayout(tx *bbolt.Tx) error {
	if m := tx.Bucket(metaBucket); m != nil {
		v := m.Get(layoutKey)
		n, k := binary.Uvarint(v)
		if k <= 0 || len(v) != k {
			return fmt.Errorf("%w: layout version in meta bucket is unreadable", cloudchain.ErrMalformed)
		}
		if n != LayoutVersion {
			return fmt.Errorf("%w: database layout version %d is not known (written by a newer cchain?)", cloudchain.ErrUnsupported, n)
		}
		return nil
	}
	if !tx.Writable() {
		return nil
	}
	m, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return fmt.Errorf("creating meta bucket: %w", err)
	}
	return m.Put(layoutKey, binary.AppendUvarint(nil, LayoutVersion))
}

func itemKey(service, user string) []byte {
	k := make([]byte, 0, len(service)+1+len(user))
	k = append(k, service...)
	k = append(k, 0)
	return append(k, user...)
}

func checkID(service, user string) error {
	if service == "" || user == "" || strings.IndexByte(service, 0) >= 0 || strings.IndexByte(user, 0) >= 0 {
		return fmt.Errorf("%w: service and user must be non-empty and free of NUL bytes", cloudchain.ErrInvalidID)
	}
	return nil
}

// Load returns the item for (service, user) with its whole history, or an
// error wrapping cloudchain.ErrNotFound.
func (b *Backend) Load(ctx context.Context, service, user string) (*cloudchain.Item, error) {
	if err := checkID(service, user); err != nil {
		return nil, err
	}
	var it *cloudchain.Item
	_, err := b.view(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		if bk == nil {
			return nil
		}
		v := bk.Get(itemKey(service, user))
		if v == nil {
			return nil
		}
		var err error
		it, err = decodeItem(service, user, v, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s/%s: %w", service, user, err)
	}
	if it == nil {
		return nil, fmt.Errorf("%s/%s: %w", service, user, cloudchain.ErrNotFound)
	}
	return it, nil
}

// Save replaces prev with next if the stored item's current record is
// still, byte for byte, prev's (prev nil: the item must not exist).
// Otherwise it writes nothing and returns an error wrapping
// cloudchain.ErrVersionConflict (a *cloudchain.VersionConflictError when the
// versions differ).
// When the encoded item would exceed MaxItemSize it stores only the newest
// records of next that fit and returns how many it dropped; next itself is
// never modified. If the current record alone exceeds MaxRecordSize it
// returns an error wrapping cloudchain.ErrTooLarge.
func (b *Backend) Save(ctx context.Context, prev, next *cloudchain.Item) (dropped int, err error) {
	if next == nil || len(next.Records) == 0 {
		return 0, errors.New("bolt backend: Save needs an item with at least one record")
	}
	service, user := next.Service, next.User
	if err := checkID(service, user); err != nil {
		return 0, err
	}
	if prev != nil && (prev.Service != service || prev.User != user) {
		return 0, fmt.Errorf("bolt backend: Save of %s/%s given the previous item of %s/%s", service, user, prev.Service, prev.User)
	}
	value, kept, err := encodeItem(next.Records)
	if err != nil {
		return 0, fmt.Errorf("saving %s/%s: %w", service, user, err)
	}
	key := itemKey(service, user)
	err = b.update(ctx, func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(secretsBucket)
		if err != nil {
			return err
		}
		if err := checkCurrent(service, user, bk.Get(key), prev); err != nil {
			return err
		}
		return bk.Put(key, value)
	})
	if err != nil {
		if errors.Is(err, cloudchain.ErrVersionConflict) {
			return 0, err
		}
		return 0, fmt.Errorf("saving %s/%s: %w", service, user, err)
	}
	return len(next.Records) - kept, nil
}

// SaveBoth implements cloudchain.PairSaver: both writes in one transaction,
// so one fsync.
func (b *Backend) SaveBoth(ctx context.Context, prev1, next1, prev2, next2 *cloudchain.Item) (dropped int, err error) {
	type write struct {
		prev  *cloudchain.Item
		key   []byte
		value []byte
		kept  int
		next  *cloudchain.Item
	}
	var ws [2]write
	for i, w := range [2][2]*cloudchain.Item{{prev1, next1}, {prev2, next2}} {
		prev, next := w[0], w[1]
		if next == nil || len(next.Records) == 0 {
			return 0, errors.New("bolt backend: SaveBoth needs two items with at least one record each")
		}
		if err := checkID(next.Service, next.User); err != nil {
			return 0, err
		}
		if prev != nil && (prev.Service != next.Service || prev.User != next.User) {
			return 0, fmt.Errorf("bolt backend: Save of %s/%s given the previous item of %s/%s", next.Service, next.User, prev.Service, prev.User)
		}
		value, kept, err := encodeItem(next.Records)
		if err != nil {
			return 0, fmt.Errorf("saving %s/%s: %w", next.Service, next.User, err)
		}
		ws[i] = write{prev: prev, key: itemKey(next.Service, next.User), value: value, kept: kept, next: next}
	}
	if string(ws[0].key) == string(ws[1].key) {
		return 0, errors.New("bolt backend: SaveBoth of one item twice")
	}
	err = b.update(ctx, func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(secretsBucket)
		if err != nil {
			return err
		}
		for _, w := range ws {
			if err := checkCurrent(w.next.Service, w.next.User, bk.Get(w.key), w.prev); err != nil {
				return err
			}
		}
		for _, w := range ws {
			if err := bk.Put(w.key, w.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, cloudchain.ErrVersionConflict) {
			return 0, err
		}
		return 0, fmt.Errorf("saving %s/%s: %w", next1.Service, next1.User, err)
	}
	return len(next1.Records) - ws[0].kept, nil
}

// Remove deletes prev and its history if the stored item is still prev, as
// Save defines it, and returns an error wrapping
// cloudchain.ErrVersionConflict otherwise.
func (b *Backend) Remove(ctx context.Context, prev *cloudchain.Item) error {
	if prev == nil {
		return errors.New("bolt backend: Remove needs the item to remove")
	}
	service, user := prev.Service, prev.User
	if err := checkID(service, user); err != nil {
		return err
	}
	want := prev.Version()
	key := itemKey(service, user)
	conflict := func(cur int64) error {
		return &cloudchain.VersionConflictError{Service: service, User: user, Expected: want, Current: cur}
	}
	// Removing from a store that does not exist must not create it.
	if _, err := os.Stat(b.path); errors.Is(err, fs.ErrNotExist) {
		if want == 0 {
			return nil
		}
		return conflict(0)
	}
	err := b.update(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		var v []byte
		if bk != nil {
			v = bk.Get(key)
		}
		if err := checkCurrent(service, user, v, prev); err != nil {
			return err
		}
		if v == nil {
			return nil
		}
		return bk.Delete(key)
	})
	if err != nil {
		if errors.Is(err, cloudchain.ErrVersionConflict) {
			return err
		}
		return fmt.Errorf("removing %s/%s: %w", service, user, err)
	}
	return nil
}

// Services calls fn for each service with at least one item, in ascending
// byte order. fn runs after the file is closed.
func (b *Backend) Services(ctx context.Context, fn func(service string) error) error {
	var services []string
	_, err := b.view(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, _ := c.First(); k != nil; {
			i := indexNUL(k)
			if i <= 0 {
				return fmt.Errorf("%w: key %q has no service", cloudchain.ErrMalformed, k)
			}
			// A service that holds nothing but its key ring and manifest
			// (its secrets were purged) is not listed. Reserved names sort
			// before every user name, so this looks at most at three keys.
			prefix := k[:i+1]
			for kk := k; kk != nil && bytes.HasPrefix(kk, prefix); kk, _ = c.Next() {
				if !cloudchain.IsReservedUser(string(kk[i+1:])) {
					services = append(services, string(k[:i]))
					break
				}
			}
			// Jump past every user of this service.
			seek := append(k[:i:i], 1)
			k, _ = c.Seek(seek)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	for _, s := range services {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// Items calls fn for each item of service in ascending byte order of user.
// With history false, each item carries only its current record. fn runs
// after the file is closed.
func (b *Backend) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	if err := checkID(service, "-"); err != nil {
		return err
	}
	var items []*cloudchain.Item
	prefix := append([]byte(service), 0)
	_, err := b.view(ctx, func(tx *bbolt.Tx) error {
		bk := tx.Bucket(secretsBucket)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			user := string(k[len(prefix):])
			it, err := decodeItem(service, user, v, history)
			if errors.Is(err, cloudchain.ErrMalformed) {
				it, err = &cloudchain.Item{Service: service, User: user, Malformed: fmt.Errorf("%s/%s: %w", service, user, err)}, nil
			}
			if err != nil {
				return fmt.Errorf("%s/%s: %w", service, user, err)
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", service, err)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func indexNUL(k []byte) int {
	for i, c := range k {
		if c == 0 {
			return i
		}
	}
	return -1
}
