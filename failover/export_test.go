package failover

import "time"

// SetStateLockWait sets the state file's lock wait for a test and returns
// a function that restores it.
func SetStateLockWait(d time.Duration) (restore func()) {
	old := stateLockWait
	stateLockWait = d
	return func() { stateLockWait = old }
}
