//go:build unix

package local

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// OwnerError reports a key file owned by another user, or a key file in a
// directory that others may write to, where they could replace the key. It
// wraps ErrKeyPermissions. ssh refuses a private key in the same situations.
type OwnerError struct {
	Path   string
	Reason string
	Fix    string
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("%s for '%s': %s\nhint: %s", ErrKeyPermissions, e.Path, e.Reason, e.Fix)
}

// Unwrap returns ErrKeyPermissions.
func (e *OwnerError) Unwrap() error { return ErrKeyPermissions }

// trustedOwner says whether a file owned by uid may hold this user's key:
// the user's own, or root's.
func trustedOwner(uid uint32) bool {
	me := os.Geteuid()
	return me < 0 || uid == uint32(me) || uid == 0
}

// checkOwner refuses a key file that another user owns.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || trustedOwner(st.Uid) {
		return nil
	}
	return &OwnerError{Path: path,
		Reason: fmt.Sprintf("the key file is owned by uid %d, not by you (uid %d)", st.Uid, os.Geteuid()),
		Fix:    fmt.Sprintf("if the file is really yours: chown %d %s", os.Geteuid(), path)}
}

// checkDir refuses a key file whose directory another user owns or may
// write to. A sticky, world-writable directory such as /tmp is refused too:
// there others may create the key file before you.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking the key file's directory: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !trustedOwner(st.Uid) {
		return &OwnerError{Path: dir,
			Reason: fmt.Sprintf("the key file's directory is owned by uid %d, not by you (uid %d)", st.Uid, os.Geteuid()),
			Fix:    "keep the key in a directory of your own, such as the default data directory"}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &OwnerError{Path: dir,
			Reason: fmt.Sprintf("the key file's directory has permissions %04o, so others may replace the key", uint32(perm)),
			Fix:    "run: chmod go-w " + dir}
	}
	return nil
}
