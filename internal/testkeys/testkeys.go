// Package testkeys is an in-memory cloudchain.KeyProvider for unit tests. It
// uses real AES-256-GCM and binds the encryption context, so tests of the
// Store see the same failures as with a real provider, and it counts calls.
package testkeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync/atomic"

	"github.com/cloudchain/cloudchain"
)

// Provider is a test key provider with one master key.
type Provider struct {
	id   string
	aead cipher.AEAD
	gens atomic.Int64
	decs atomic.Int64
	encs atomic.Int64
}

var (
	_ cloudchain.KeyProvider = (*Provider)(nil)
	_ cloudchain.Encrypter   = (*Provider)(nil)
)

// New returns a provider with a fresh random master key named id.
func New(id string) *Provider {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Provider{id: id, aead: aead}
}

// KeyID returns the provider's key id.
func (p *Provider) KeyID() string { return p.id }

// Counts returns how many GenerateDataKey, Decrypt and Encrypt calls were made.
func (p *Provider) Counts() (gen, dec, enc int64) { return p.gens.Load(), p.decs.Load(), p.encs.Load() }

func aad(encCtx map[string]string) []byte { return cloudchain.EncodeContext(encCtx) }

func (p *Provider) wrap(pt []byte, encCtx map[string]string) []byte {
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return p.aead.Seal(nonce, nonce, pt, aad(encCtx))
}

// GenerateDataKey implements cloudchain.KeyProvider.
func (p *Provider) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	p.gens.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &cloudchain.DataKey{Plaintext: key, Wrapped: p.wrap(key, encCtx), KeyID: p.id}, nil
}

// Encrypt implements cloudchain.Encrypter.
func (p *Provider) Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, string, error) {
	p.encs.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	return p.wrap(plaintext, encCtx), p.id, nil
}

// Decrypt implements cloudchain.KeyProvider.
func (p *Provider) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) ([]byte, error) {
	p.decs.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if keyID != "" && keyID != p.id {
		return nil, &cloudchain.WrongKeyError{RecordKey: keyID, ProviderKey: p.id}
	}
	if len(ciphertext) < 12+16 {
		return nil, fmt.Errorf("%w: wrapped key too short", cloudchain.ErrAuthentication)
	}
	pt, err := p.aead.Open(nil, ciphertext[:12], ciphertext[12:], aad(encCtx))
	if err != nil {
		return nil, cloudchain.ErrAuthentication
	}
	return pt, nil
}
