//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package lockedfile

import (
	"context"
	"io/fs"
)

// Lock is a no-op where flock is not available: concurrent processes may
// then lose each other's updates.
func Lock(context.Context, string) (func(), error) { return func() {}, nil }

// ownedByMe cannot tell owners apart here; the file is in the user's own
// directory.
func ownedByMe(fs.FileInfo) bool { return true }
