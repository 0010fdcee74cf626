package cloudchain

import "context"

// A KeyProvider wraps and unwraps data keys. Implementations live in their
// own packages (keys/local, keys/awskms) and assert
//
//	var _ cloudchain.KeyProvider = (*Provider)(nil)
//
// The encryption context is bound to every wrapped key: Decrypt with a
// context other than the one given to GenerateDataKey must fail.
type KeyProvider interface {
	// GenerateDataKey returns a fresh 256-bit data key in plaintext, the
	// same key wrapped under the provider's key with encCtx bound to it, and
	// the id of the wrapping key. The caller clears Plaintext after use.
	GenerateDataKey(ctx context.Context, encCtx map[string]string) (*DataKey, error)

	// Decrypt unwraps ciphertext that the record says was made under the key
	// keyID with the encryption context encCtx. The provider must decide
	// itself which keys it trusts, never taking keyID's word for it: a
	// ciphertext made under any other key fails with an error wrapping
	// ErrWrongKey (the local provider checks keyID before decrypting; the
	// KMS provider tells KMS which key to use). A ciphertext or context that
	// is rejected gives an error wrapping ErrAuthentication, and
	// ErrAccessDenied or ErrThrottled are returned where they apply. It never
	// returns garbage.
	Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) ([]byte, error)
}

// An Encrypter is a KeyProvider that can also encrypt small plaintexts
// directly. Writing the legacy (Python cloudchain) format needs it; only the
// AWS KMS provider has it.
type Encrypter interface {
	// Encrypt encrypts plaintext under the provider's key with encCtx and
	// returns the ciphertext and the id of the key used.
	Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) (ciphertext []byte, keyID string, err error)
}

// DataKey is a data key from a KeyProvider.
type DataKey struct {
	// Plaintext is the 32-byte key. Clear it after use with Zero.
	Plaintext []byte
	// Wrapped is the key encrypted under the provider's key.
	Wrapped []byte
	// KeyID identifies the wrapping key (a KMS key ARN, or "local:" and a
	// fingerprint).
	KeyID string
}

// Item is everything a backend stores for one (service, user): its records,
// newest first. Records[0] is the current version; the rest is history.
// Version numbers strictly decrease along Records.
type Item struct {
	Service string
	User    string
	Records []*Record
	// DamagedHistory counts earlier versions that the backend could not
	// decode and left out of Records, so that one damaged old version never
	// makes the current one unreadable. The next write drops them.
	DamagedHistory int
	// Malformed is set only by Items, for an item that could not be decoded
	// (an error wrapping ErrMalformed); Records is then empty. Items hands
	// such items on instead of stopping, so that one damaged secret is named
	// rather than hiding its whole service.
	Malformed error
}

// Version returns the current (highest) version of the item, or 0 for a nil
// or empty item.
func (it *Item) Version() int64 {
	if it == nil || len(it.Records) == 0 {
		return 0
	}
	return it.Records[0].Version
}

// Current returns the item's current record.
func (it *Item) Current() *Record {
	if it == nil || len(it.Records) == 0 {
		return nil
	}
	return it.Records[0]
}

// Find returns the record with the given version, or nil.
func (it *Item) Find(version int64) *Record {
	for _, r := range it.Records {
		if r.Version == version {
			return r
		}
	}
	return nil
}

// A Backend stores items. Every write is conditional on the exact item that
// was read, so that no interleaving of writers loses an update. Implementations
// live in their own packages (backend/bolt, backend/dynamodb) and must pass
// the conformance suite in backend/backendtest.
//
// Every method takes ctx first and never keeps it: a cancelled or expired ctx
// makes the method return an error wrapping ctx.Err() as soon as the
// backend can stop, and a write that returns such an error has either landed
// whole or not at all. No method returns ErrNotFound for a failure whose cause
// is unknown (throttling, access denied, a damaged store).
//
// The Store keeps each service's key ring as an item of that service whose
// user is ServiceKeyUser, and its rollback manifest as the item of ManifestUser:
// names that no valid user can have (IsReservedUser). Backends store them
// like any other item and return them from Load, LoadBatch and Items.
type Backend interface {
	// Load returns the item for (service, user), or an error wrapping
	// ErrNotFound if there is none. An item whose current record cannot be
	// decoded gives an error wrapping ErrMalformed; a store that cannot be
	// read at all (a damaged file), ErrCorrupt. An earlier version that
	// cannot be decoded is left out and counted in DamagedHistory.
	Load(ctx context.Context, service, user string) (*Item, error)

	// Save replaces prev with next in one atomic, conditional write. prev
	// is nil when the item must not exist yet; otherwise it is the item as
	// returned by Load, and the write happens only if the stored item's
	// current record is still byte for byte prev's current record (comparing
	// version numbers alone would let a purge and a re-put in between pass
	// as "unchanged"). Otherwise Save writes nothing and returns an error
	// wrapping ErrVersionConflict.
	//
	// Save never modifies next. A backend with a size limit stores only as
	// much of next's history as fits, dropping the oldest records first, and
	// returns how many records of next it dropped. If next.Records[0] alone
	// does not fit, Save writes nothing and returns an error wrapping
	// ErrTooLarge.
	Save(ctx context.Context, prev, next *Item) (dropped int, err error)

	// Remove deletes prev and its whole history, conditional on the stored
	// item still being prev, as Save defines it (ErrVersionConflict
	// otherwise).
	Remove(ctx context.Context, prev *Item) error

	// Services calls fn once for each service that has at least one item
	// other than its reserved ones (IsReservedUser: the key ring and the
	// rollback manifest), in ascending byte order. An
	// error from fn stops the walk and is returned as it is.
	Services(ctx context.Context, fn func(service string) error) error

	// Items calls fn for each item of service, in ascending byte order of
	// user. With history false, items may carry only their current record.
	// An item that cannot be decoded is passed with Malformed set. An error
	// from fn stops the walk and is returned as it is.
	Items(ctx context.Context, service string, history bool, fn func(*Item) error) error
}

// A BatchLoader is a Backend that can load several items of one service in
// one round trip (DynamoDB BatchGetItem, one bbolt transaction). The Store
// uses it to read a secret together with its service's key ring; without it
// the Store makes concurrent Loads.
type BatchLoader interface {
	// LoadBatch returns the items for users of service, in the order of
	// users, with a nil entry for each user that has no item. Reads are
	// strongly consistent, as Load's are. Errors are Load's.
	LoadBatch(ctx context.Context, service string, users []string) ([]*Item, error)
}

// A PairSaver is a Backend that can make two conditional writes in one
// atomic step (one bbolt transaction). The Store uses it to write a secret
// and its service's rollback manifest together: one write instead of two
// (one fsync in bbolt), and no moment at which one has landed without the
// other. Without it the Store writes the secret, then the manifest.
type PairSaver interface {
	// SaveBoth saves next1 over prev1 and next2 over prev2, each
	// conditional as Save defines it, both or neither. A conflict on either
	// gives an error wrapping ErrVersionConflict and writes nothing. It
	// returns how many records of next1 it dropped, as Save does.
	SaveBoth(ctx context.Context, prev1, next1, prev2, next2 *Item) (dropped int, err error)
}

// A Discarder is a Backend that can remove an item it cannot decode (damaged
// or altered beyond parsing), which Remove cannot, since Remove is
// conditional on an item that Load returned. Store.Purge uses it only when
// Load reports ErrMalformed.
type Discarder interface {
	// Discard removes whatever is stored for (service, user),
	// unconditionally. Removing nothing is not an error.
	Discard(ctx context.Context, service, user string) error
}

// Zero overwrites b with zeros. Use it on data keys and plaintext buffers
// once they are no longer needed.
func Zero(b []byte) {
	clear(b)
}
