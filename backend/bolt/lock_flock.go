//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package bolt

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockFile takes the advisory lock on f that bbolt takes (shared or
// exclusive flock), polling so that it can stop when ctx is done. It
// returns errLockTimeout after timeout, or ctx.Err().
func lockFile(ctx context.Context, f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	wait := 2 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return errLockTimeout
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// unlockFile releases f's lock explicitly. Closing f is not enough while
// bbolt's memory map of it exists: the map keeps the open file, and with it
// the lock, alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
