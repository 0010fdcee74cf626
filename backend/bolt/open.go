package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/cloudchain/cloudchain"
)

var (
	// errLockTimeout is lockFile's answer when the lock stayed taken.
	errLockTimeout = errors.New("lock wait timed out")
	// errEmptyFile is the open hook's answer for a file of 0 bytes. This
	// package never leaves one (see create), so it is damage.
	errEmptyFile = errors.New("the file is empty (0 bytes)")
	// errNotRegular is its answer for a directory, FIFO or device.
	errNotRegular = errors.New("not a regular file")
)

// corrupt returns an error wrapping cloudchain.ErrCorrupt that names the
// file and says what was wrong with it.
func (b *Backend) corrupt(why any) error {
	if err, ok := why.(error); ok {
		return fmt.Errorf("%w: the store file %s is damaged (%w)\nhint: restore it from a backup", cloudchain.ErrCorrupt, b.path, err)
	}
	return fmt.Errorf("%w: the store file %s is damaged (%v)\nhint: restore it from a backup", cloudchain.ErrCorrupt, b.path, why)
}

// lockError turns lockFile's error into the backend's.
func (b *Backend) lockError(ctx context.Context, err error, waited time.Duration) error {
	switch {
	case errors.Is(err, errLockTimeout), errors.Is(err, berrors.ErrTimeout):
		return b.lockedError(waited)
	case errors.Is(err, context.DeadlineExceeded):
		// The deadline cut the wait short: still, the lock was taken.
		return fmt.Errorf("%w: another cchain process holds %s: %w", cloudchain.ErrLocked, b.path, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("waiting for the lock on %s: %w", b.path, err)
	}
	return nil
}

// openDB opens the database under its file lock, shared for reading and
// exclusive for writing, waiting for the lock no longer than the lock
// timeout and no longer than ctx allows. It never creates the file: a file
// that does not exist gives an error wrapping fs.ErrNotExist. A damaged file
// gives an error wrapping cloudchain.ErrCorrupt, never a panic.
//
// On success the caller runs transactions with b.run and closes with
// closeDB.
func (b *Backend) openDB(ctx context.Context, write bool) (h *handle, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout := b.lockTimeout(ctx)
	h = &handle{}
	opts := &bbolt.Options{
		ReadOnly: !write,
		Timeout:  timeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			// O_NONBLOCK, and the check that it is a regular file before
			// waiting for the lock: a FIFO at the store's path must not
			// make the command wait for ever. No effect on regular files.
			f, err := os.OpenFile(name, flag&^os.O_CREATE|syscall.O_NONBLOCK, perm)
			if err != nil {
				return nil, err
			}
			if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
				f.Close()
				if err == nil {
					err = errNotRegular
				}
				return nil, err
			}
			if err := lockFile(ctx, f, write, timeout); err != nil {
				f.Close()
				return nil, err
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, err
			}
			if fi.Size() == 0 {
				f.Close()
				return nil, errEmptyFile
			}
			h.file, h.size = f, fi.Size()
			return f, nil
		},
	}
	err = b.guard(h, func() error {
		db, err := bbolt.Open(b.path, 0o600, opts)
		h.db = db
		return err
	})
	if err == nil {
		return h, nil
	}
	if h.db != nil || h.file != nil {
		h.abandon()
	}
	switch {
	case errors.Is(err, cloudchain.ErrCorrupt):
		return nil, err
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.Is(err, errEmptyFile), errors.Is(err, errNotRegular):
		return nil, b.corrupt(err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, b.corrupt(err)
	}
	if lerr := b.lockError(ctx, err, timeout); lerr != nil {
		return nil, lerr
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("opening %s: %w", b.path, err)
	}
	// Anything else bbolt says about the file's contents ("file size too
	// small", a bad page size ...) means it is not a database we can read.
	return nil, b.corrupt(err)
}

// handle is one opened database.
type handle struct {
	db   *bbolt.DB
	file *os.File
	size int64
	// broken is set once bbolt panicked: its locks may still be held, so
	// the DB must not be closed through bbolt.
	broken bool
}

// abandon releases the file lock of a database that bbolt may have left in
// an inconsistent state, without going through bbolt (whose Close could
// wait forever for a lock a panicking transaction held). Its memory map is
// left for the process's end; this happens only for a damaged file.
func (h *handle) abandon() {
	if h.file != nil {
		unlockFile(h.file)
		h.file.Close()
	}
}

// closeDB closes a database that openDB returned.
func (b *Backend) closeDB(h *handle) error {
	if h.broken {
		h.abandon()
		return nil
	}
	if err := h.db.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", b.path, err)
	}
	return nil
}

// guard runs fn, which calls into bbolt, and turns a panic or a memory
// fault (bbolt reads pages through a memory map, and a damaged page can
// point anywhere) into an error wrapping cloudchain.ErrCorrupt.
func (b *Backend) guard(h *handle, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			h.broken = true
			err = b.corrupt(fmt.Sprint(r))
		}
	}()
	return fn()
}

// checkSize refuses a file shorter than the pages its meta page says it
// has: bbolt would read past its end.
func (b *Backend) checkSize(h *handle, tx *bbolt.Tx) error {
	if hwm := tx.Size(); hwm > h.size {
		return b.corrupt(fmt.Sprintf("it is truncated (%d bytes, its pages need %d)", h.size, hwm))
	}
	return nil
}

// view runs fn in a read-only transaction. It reports found=false, without
// calling fn, when the file does not exist.
func (b *Backend) view(ctx context.Context, fn func(tx *bbolt.Tx) error) (found bool, err error) {
	h, err := b.openDB(ctx, false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = b.guard(h, func() error {
		return h.db.View(func(tx *bbolt.Tx) error {
			if err := b.checkSize(h, tx); err != nil {
				return err
			}
			if err := checkLayout(tx); err != nil {
				return err
			}
			return fn(tx)
		})
	})
	if cerr := b.closeDB(h); err == nil {
		err = cerr
	}
	return true, err
}

// update runs fn in a read-write transaction, creating the file if needed.
func (b *Backend) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := b.lockTimeout(ctx)
	timer := time.NewTimer(timeout)
	select {
	case b.writeMu <- struct{}{}:
		timer.Stop()
	case <-timer.C:
		return fmt.Errorf("%w: %s is busy with other writes in this process (waited %v)", cloudchain.ErrLocked, b.path, timeout)
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	}
	defer func() { <-b.writeMu }()
	h, err := b.openDB(ctx, true)
	if errors.Is(err, fs.ErrNotExist) {
		if err := b.create(ctx); err != nil {
			return err
		}
		h, err = b.openDB(ctx, true)
	}
	if err != nil {
		return err
	}
	err = b.guard(h, func() error {
		return h.db.Update(func(tx *bbolt.Tx) error {
			if err := b.checkSize(h, tx); err != nil {
				return err
			}
			if err := checkLayout(tx); err != nil {
				return err
			}
			return fn(tx)
		})
	})
	if cerr := b.closeDB(h); err == nil {
		err = cerr
	}
	return err
}

// create makes the database file, with its directory, so that it never
// exists half made: the file is initialised under a temporary name and then
// hard-linked into place, which fails harmlessly if another process made it
// first. A file of 0 bytes at the path is therefore always damage.
func (b *Backend) create(ctx context.Context) error {
	dir := filepath.Dir(b.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory for %s: %w", b.path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(b.path)+".new-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", b.path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bbolt.Open(name, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("creating %s: %w", b.path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := checkLayout(tx); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(secretsBucket)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", b.path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch err := os.Link(name, b.path); {
	case err == nil, errors.Is(err, fs.ErrExist):
	default:
		// A file system without hard links: rename, unless the file has
		// appeared meanwhile (a narrow race that only loses the empty file
		// another process just made).
		if _, serr := os.Stat(b.path); serr == nil {
			return nil
		}
		if rerr := os.Rename(name, b.path); rerr != nil {
			return fmt.Errorf("creating %s: %w", b.path, rerr)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
