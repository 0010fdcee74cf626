//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package watermark

import "context"

// lock is a no-op where flock is not available: concurrent processes may
// then lose each other's updates, which only makes the mark less current.
func lock(context.Context, string) (func(), error) { return func() {}, nil }
