package cloudchain

import (
	"context"
	"io"
)

// SealV1ForTest seals plaintext into r as a record made before service keys
// (FormatV1: its own data key from keys), for tests of re-encryption.
func SealV1ForTest(ctx context.Context, keys KeyProvider, rand io.Reader, service, user string, r *Record, plaintext []byte) error {
	r.Format = FormatV1
	if r.Deleted {
		return nil // markers made before service keys carry no key
	}
	dk, err := keys.GenerateDataKey(ctx, ServiceContext(service))
	if err != nil {
		return err
	}
	defer Zero(dk.Plaintext)
	r.KeyID, r.Context, r.WrappedKey = dk.KeyID, ServiceContext(service), dk.Wrapped
	return seal(rand, dk.Plaintext, service, user, r, plaintext)
}
