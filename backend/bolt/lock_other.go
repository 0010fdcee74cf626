//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package bolt

import (
	"context"
	"os"
	"time"
)

// lockFile does nothing here: bbolt takes the lock itself, with its own
// timeout, and a cancelled ctx does not cut that wait short.
func lockFile(context.Context, *os.File, bool, time.Duration) error { return nil }

// unlockFile does nothing here; closing the file releases bbolt's lock.
func unlockFile(*os.File) {}
