package local

import (
	"context"
	"fmt"

	"github.com/cloudchain/cloudchain"
)

var (
	_ cloudchain.KeyProvider = (*Set)(nil)
	_ cloudchain.KeyOwner    = (*Set)(nil)
	_ cloudchain.Encrypter   = keyWrapper{}
)

// Set is a cloudchain.KeyProvider over several local master keys, for the
// time a store moves from one master key to another: new data keys are
// wrapped under the primary key, and Decrypt picks the key by the key id
// recorded with each wrapped key, so a key wrapped under any key of the set
// opens, and a key wrapped under a key outside it is refused with a
// *cloudchain.WrongKeyError before any decryption. It is safe for concurrent
// use.
type Set struct {
	primary *Provider
	keys    []*Provider // primary first, then the others in the order given
}

// NewSet returns a set whose new data keys are wrapped under primary and
// which also opens keys wrapped under any of decryptOnly. A provider given
// twice (the same key id) counts once. Close closes every provider.
func NewSet(primary *Provider, decryptOnly ...*Provider) *Set {
	s := &Set{primary: primary, keys: []*Provider{primary}}
	for _, p := range decryptOnly {
		if p != nil && s.provider(p.KeyID()) == nil {
			s.keys = append(s.keys, p)
		}
	}
	return s
}

func (s *Set) provider(keyID string) *Provider {
	for _, p := range s.keys {
		if p.KeyID() == keyID {
			return p
		}
	}
	return nil
}

// KeyID returns the id of the primary key, which wraps new data keys.
func (s *Set) KeyID() string { return s.primary.KeyID() }

// Primary returns the provider of the primary key.
func (s *Set) Primary() *Provider { return s.primary }

// KeyIDs returns the id of every key of the set, the primary first.
func (s *Set) KeyIDs() []string {
	ids := make([]string, len(s.keys))
	for i, p := range s.keys {
		ids[i] = p.KeyID()
	}
	return ids
}

// OwnsKey reports whether keyID names one of the set's keys.
func (s *Set) OwnsKey(keyID string) bool { return s.provider(keyID) != nil }

// GenerateDataKey wraps a new data key under the primary key.
func (s *Set) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	return s.primary.GenerateDataKey(ctx, encCtx)
}

// Decrypt unwraps with the key that keyID names. A keyID outside the set
// gives a *cloudchain.WrongKeyError (wrapping cloudchain.ErrWrongKey) naming
// the primary key, and no decryption is attempted; a key that is in the set
// but does not open wrapped gives an error wrapping
// cloudchain.ErrAuthentication, as Provider.Decrypt does.
func (s *Set) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	p := s.provider(keyID)
	if p == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, &cloudchain.WrongKeyError{RecordKey: keyID, ProviderKey: s.primary.KeyID()}
	}
	return p.Decrypt(ctx, keyID, wrapped, encCtx)
}

// Close closes every provider of the set. It returns nil.
func (s *Set) Close() error {
	for _, p := range s.keys {
		p.Close()
	}
	return nil
}

// Encrypter returns a cloudchain.Encrypter that wraps 32-byte keys under
// p's master key, exactly as GenerateDataKey wraps the keys it makes (so
// Decrypt opens them), for moving service keys to this master key with
// cloudchain.Store.RewrapServiceKeys. It refuses any plaintext that is not
// KeySize bytes: it wraps keys, and is not a general-purpose encryption.
func (p *Provider) Encrypter() cloudchain.Encrypter { return keyWrapper{p} }

type keyWrapper struct{ p *Provider }

// Encrypt wraps a KeySize-byte key under the master key with encCtx bound.
func (w keyWrapper) Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if len(plaintext) != KeySize {
		return nil, "", fmt.Errorf("local key provider: wraps only %d-byte keys, not %d bytes: %w", KeySize, len(plaintext), cloudchain.ErrUnsupported)
	}
	wrapped, err := w.p.wrap(plaintext, encCtx)
	if err != nil {
		return nil, "", err
	}
	return wrapped, w.p.id, nil
}
