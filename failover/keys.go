package failover

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudchain/cloudchain"
)

// KeyRegion is one region's key provider. For a multi-Region KMS key, each
// region's provider names the key's replica in its own region (see
// awskms.WithRegion).
type KeyRegion struct {
	Name string
	// Endpoint is the region's KMS endpoint ("" for the standard one); it
	// only tells regions apart in the state file (WithStateFile).
	Endpoint string
	Provider cloudchain.KeyProvider
}

// Keys is a cloudchain.KeyProvider over the regions of a multi-Region key:
// Decrypt fails over, GenerateDataKey and Encrypt use the primary only. It
// is safe for concurrent use if its regions' providers are.
type Keys struct {
	regions []KeyRegion
	h       *health
}

var (
	_ cloudchain.KeyProvider = (*Keys)(nil)
	_ cloudchain.Encrypter   = (*Keys)(nil)
	_ cloudchain.KeyOwner    = (*Keys)(nil)
	_ io.Closer              = (*Keys)(nil)
)

// NewKeys returns Keys over regions, the primary first. It panics if
// regions is empty.
func NewKeys(regions []KeyRegion, opts ...Option) *Keys {
	if len(regions) == 0 {
		panic("failover: no regions")
	}
	names, endpoints := make([]string, len(regions)), make([]string, len(regions))
	for i, r := range regions {
		names[i], endpoints[i] = r.Name, r.Endpoint
	}
	return &Keys{regions: regions, h: newHealth("kms", names, endpoints, opts)}
}

// GenerateDataKey uses the primary region only: it is part of a write.
func (k *Keys) GenerateDataKey(ctx context.Context, encCtx map[string]string) (dk *cloudchain.DataKey, err error) {
	err = k.h.write(ctx, func() (err error) {
		dk, err = k.regions[0].Provider.GenerateDataKey(ctx, encCtx)
		return err
	})
	return dk, err
}

// Decrypt asks the first region that answers.
func (k *Keys) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) (pt []byte, err error) {
	err = k.h.read(ctx, func(i int) (err error) {
		pt, err = k.regions[i].Provider.Decrypt(ctx, keyID, ciphertext, encCtx)
		return err
	})
	return pt, err
}

// Encrypt uses the primary region only; it fails with an error wrapping
// cloudchain.ErrUnsupported if the primary's provider cannot encrypt.
func (k *Keys) Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) (ct []byte, keyID string, err error) {
	enc, ok := k.regions[0].Provider.(cloudchain.Encrypter)
	if !ok {
		return nil, "", fmt.Errorf("encrypting directly: %w", cloudchain.ErrUnsupported)
	}
	err = k.h.write(ctx, func() (err error) {
		ct, keyID, err = enc.Encrypt(ctx, plaintext, encCtx)
		return err
	})
	return ct, keyID, err
}

// OwnsKey is the primary's answer (true if it cannot tell).
func (k *Keys) OwnsKey(keyID string) bool {
	if o, ok := k.regions[0].Provider.(cloudchain.KeyOwner); ok {
		return o.OwnsKey(keyID)
	}
	return true
}

// Close closes every region's provider that is an io.Closer.
func (k *Keys) Close() error {
	var errs []error
	for _, r := range k.regions {
		if c, ok := r.Provider.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
