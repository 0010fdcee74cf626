package cloudchain

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a Store, a Backend or a KeyProvider
// that falls into one of these classes wraps the matching sentinel, so callers
// test for it with errors.Is. Errors never contain secret values.
var (
	// ErrNotFound means the secret (or the requested version of it) does not
	// exist. It is never returned for throttling, access denied or any other
	// failure whose cause is unknown.
	ErrNotFound = errors.New("secret not found")

	// ErrDeleted means the secret exists but its current version is a
	// deletion marker (a soft delete). Its history is still there, and
	// Undelete or Rollback restores it. ErrDeleted does not wrap ErrNotFound:
	// "deleted" and "never existed" are different answers.
	ErrDeleted = errors.New("secret is deleted")

	// ErrVersionConflict means a conditional write found a different version
	// than the one it expected.
	ErrVersionConflict = errors.New("version conflict")

	// ErrAuthentication means a record failed authentication: it was
	// tampered with, moved to another (service, user) or version, or its
	// wrapped data key was rejected by the key provider.
	ErrAuthentication = errors.New("authentication failed: record was tampered with or does not belong here")

	// ErrWrongKey means a record was wrapped by a key other than the one the
	// key provider holds. It is reported before any decryption is attempted.
	ErrWrongKey = errors.New("record was encrypted under a different key")

	// ErrInvalidID means a service or user name is not acceptable.
	ErrInvalidID = errors.New("invalid id")

	// ErrTooLarge means a secret cannot be stored by the backend even with
	// no history at all. Nothing was written.
	ErrTooLarge = errors.New("secret too large")

	// ErrAccessDenied means the backend or key service refused the caller's
	// credentials for the action.
	ErrAccessDenied = errors.New("access denied")

	// ErrThrottled means the backend or key service kept throttling after
	// the SDK's retries.
	ErrThrottled = errors.New("throttled")

	// ErrNotSetUp means the store does not exist yet (a missing table, for
	// example); `cchain setup` creates it.
	ErrNotSetUp = errors.New("store is not set up")

	// ErrLocked means another process holds the store's lock and did not
	// release it within the wait time.
	ErrLocked = errors.New("store is locked by another process")

	// ErrUnsupported means the backend or key provider cannot do what was
	// asked (writing the legacy format without a KMS key, for example).
	ErrUnsupported = errors.New("not supported")

	// ErrMalformed means stored data could not be parsed as any known
	// record or item format.
	ErrMalformed = errors.New("malformed record")

	// ErrCorrupt means the store itself is damaged (a bbolt file with bad
	// pages, a truncated or empty file): nothing in it can be trusted until
	// it is restored from a backup.
	ErrCorrupt = errors.New("store is corrupt")

	// ErrNotDeleted means Undelete was asked to restore a secret whose
	// current version is not a deletion marker.
	ErrNotDeleted = errors.New("secret is not deleted")
)

// VersionConflictError reports the versions involved in a failed conditional
// write. It wraps ErrVersionConflict.
type VersionConflictError struct {
	Service, User string
	// Expected is the version the caller expected (0: must not exist).
	Expected int64
	// Current is the version found (0: the secret does not exist).
	Current int64
}

func (e *VersionConflictError) Error() string {
	switch {
	case e.Expected == 0:
		return fmt.Sprintf("version conflict on %s/%s: expected no secret, found version %d", e.Service, e.User, e.Current)
	case e.Current == 0:
		return fmt.Sprintf("version conflict on %s/%s: expected version %d, found no secret", e.Service, e.User, e.Expected)
	default:
		return fmt.Sprintf("version conflict on %s/%s: expected version %d, found version %d", e.Service, e.User, e.Expected, e.Current)
	}
}

// Unwrap returns ErrVersionConflict.
func (e *VersionConflictError) Unwrap() error { return ErrVersionConflict }

// WrongKeyError reports which key wrapped a record and which key the provider
// holds. It wraps ErrWrongKey.
type WrongKeyError struct {
	RecordKey, ProviderKey string
}

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("record was encrypted under key %s, but this store uses key %s", e.RecordKey, e.ProviderKey)
}

// Unwrap returns ErrWrongKey.
func (e *WrongKeyError) Unwrap() error { return ErrWrongKey }
