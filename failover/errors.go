package failover

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPrimaryDown marks a write refused because the primary region did not
// answer. Writes never fail over: see the package documentation.
var ErrPrimaryDown = errors.New("the primary region did not answer, and writes go to the primary region only")

// A WriteError is a write (or a KMS call made for one) that the primary
// region did not answer. It wraps ErrPrimaryDown and the region's error.
type WriteError struct {
	// Service is "dynamodb" or "kms".
	Service string
	// Primary is the region writes go to; Replicas are the others.
	Primary  string
	Replicas []string
	// Err is the primary's error.
	Err error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("%s write refused: writes go to the primary region %s only, and it did not answer: %v\n"+
		"hint: reads still work through %s; retry the write when %s answers again (a write that failed this way landed whole or not at all: `cchain history SERVICE USER` shows which). "+
		"Writing to a replica of a global table while the primary is cut off could silently lose an update (the last writer wins across regions), so cchain does not",
		e.Service, e.Primary, e.Err, strings.Join(e.Replicas, ", "), e.Primary)
}

// Unwrap returns ErrPrimaryDown and the primary's error.
func (e *WriteError) Unwrap() []error { return []error{ErrPrimaryDown, e.Err} }

// A Try is one region's failure.
type Try struct {
	Region string
	Err    error
}

// An Error says that no region answered a read. It wraps every region's
// error, so errors.Is finds their sentinels (cloudchain.ErrThrottled, for
// example).
type Error struct {
	// Service is "dynamodb" or "kms".
	Service string
	// Tries are the regions tried, in order.
	Tries []Try
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Tries))
	for i, t := range e.Tries {
		parts[i] = fmt.Sprintf("%s: %v", t.Region, t.Err)
	}
	return fmt.Sprintf("%s: no region answered (%s)", e.Service, strings.Join(parts, "; "))
}

// Unwrap returns the error of each region tried.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Tries))
	for i, t := range e.Tries {
		errs[i] = t.Err
	}
	return errs
}

// callerError is an error of the caller's own callback during a walk,
// which is returned as it is and never fails over.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
