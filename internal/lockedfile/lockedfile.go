// Package lockedfile keeps small state files that several processes of one
// user share: an exclusive lock (flock, on the systems that have it) around
// each read-modify-write, a new file renamed over the old one so that a
// reader never sees it half-written, and a read that refuses a file another
// user could have written.
package lockedfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUntrusted marks a file that ReadTrusted refuses: not a regular file,
// not owned by the current user, writable by its group or by others, or
// larger than allowed.
var ErrUntrusted = errors.New("untrusted state file")

// WriteAtomic replaces the file at path with data, mode 0600: it writes a
// temporary file in the same directory (named by pattern, as for
// os.CreateTemp), syncs it, renames it over path and syncs the directory.
func WriteAtomic(path string, data []byte, pattern string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	// On disk before it replaces the old file, so that a power loss
	// leaves the old content or the new, never an empty file.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadTrusted reads the file at path if it is a regular file of at most max
// bytes that only the current user can write (on systems with file owners);
// otherwise it returns an error wrapping ErrUntrusted. A missing file is an
// error wrapping fs.ErrNotExist.
func ReadTrusted(path string, max int64) ([]byte, error) {
	// O_NONBLOCK: a FIFO at path must not make the open wait for a writer
	// (it is then refused as not a regular file). No effect on regular
	// files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, path)
	case fi.Size() > max:
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUntrusted, path, max)
	case !ownedByMe(fi):
		return nil, fmt.Errorf("%w: %s belongs to another user or is writable by others", ErrUntrusted, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUntrusted, path, max)
	}
	return b, nil
}
