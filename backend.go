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

// A Backend stores items. Every write is conditional on the item that was
// read, so that no interleaving of writers loses an update. Implementations
// live in their own packages (backend/bolt, backend/dynamodb) and must pass
// the conformance suite in backend/backendtest.
type Backend interface {
	// Load returns the item for (service, user), or an error wrapping
	// ErrNotFound if there is none.
	Load(ctx context.Context, service, user string) (*Item, error)

	// Save replaces prev with next in one atomic, conditional write. prev
	// is nil when the item must not exist yet; otherwise it is the item as
	// returned by Load. If the stored item is no longer prev, Save writes
	// nothing and returns an error wrapping ErrVersionConflict.
	//
	// A backend with a size limit drops the oldest history records of next
	// (modifying next.Records) until the item fits, and returns an error
	// wrapping ErrTooLarge, writing nothing, if next.Records[0] alone does
	// not fit.
	Save(ctx context.Context, prev, next *Item) error

	// Remove deletes prev and its whole history, conditional on the stored
	// item still being prev (ErrVersionConflict otherwise).
	Remove(ctx context.Context, prev *Item) error

	// Services calls fn once for each service that has at least one item,
	// in ascending byte order.
	Services(ctx context.Context, fn func(service string) error) error

	// Items calls fn for each item of service, in ascending byte order of
	// user. With history false, items may carry only their current record.
	Items(ctx context.Context, service string, history bool, fn func(*Item) error) error
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
