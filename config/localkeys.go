package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

// localKeys opens the embedded default's master key on first use: reading
// commands never create it, a write creates it on a fresh machine, and a
// missing key next to an existing store is refused instead of being silently
// replaced by a new key that could decrypt nothing already stored.
type localKeys struct {
	keyPath, storePath string

	mu sync.Mutex
	p  *local.Provider
}

var (
	_ cloudchain.KeyProvider     = (*localKeys)(nil)
	_ interface{ Close() error } = (*localKeys)(nil)
)

// errMissingKey says the master key is gone while the store exists.
func missingKeyError(keyPath, storePath string) error {
	return fmt.Errorf("%w: the master key %s is missing but the store %s exists\nhint: restore the key file from a backup (nothing in the store can be decrypted without it), or move the store away to start afresh",
		cloudchain.ErrWrongKey, keyPath, storePath)
}

func (l *localKeys) provider(create bool) (*local.Provider, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		return l.p, nil
	}
	p, err := local.Load(l.keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(l.storePath); serr == nil || !create {
			return nil, missingKeyError(l.keyPath, l.storePath)
		}
		p, err = local.Open(l.keyPath)
	}
	if err != nil {
		return nil, err
	}
	l.p = p
	return p, nil
}

// GenerateDataKey implements cloudchain.KeyProvider.
func (l *localKeys) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	p, err := l.provider(true)
	if err != nil {
		return nil, err
	}
	return p.GenerateDataKey(ctx, encCtx)
}

// Decrypt implements cloudchain.KeyProvider.
func (l *localKeys) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) ([]byte, error) {
	p, err := l.provider(false)
	if err != nil {
		return nil, err
	}
	return p.Decrypt(ctx, keyID, ciphertext, encCtx)
}

// Close clears the master key from memory.
func (l *localKeys) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil {
		return nil
	}
	return l.p.Close()
}
