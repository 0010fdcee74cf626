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

// ErrKeyPermissions means the embedded store's master key file, or its
// directory, can be read or written by other users; it is local.ErrKeyPermissions,
// named here so that programs that use config need not import keys/local.
var ErrKeyPermissions = local.ErrKeyPermissions

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
	_ cloudchain.KeyOwner        = (*localKeys)(nil)
	_ interface{ Close() error } = (*localKeys)(nil)
)

// MissingKeyError says the embedded store's master key is gone while the
// store exists. It wraps cloudchain.ErrWrongKey: nothing stored can be
// decrypted.
type MissingKeyError struct{ KeyPath, StorePath string }

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("the master key %s is missing but the store %s exists\nhint: restore the key file from a backup (nothing in the store can be decrypted without it), or move the store away to start afresh", e.KeyPath, e.StorePath)
}

// Unwrap returns cloudchain.ErrWrongKey.
func (e *MissingKeyError) Unwrap() error { return cloudchain.ErrWrongKey }

// loadOrRefuse loads the key, and if it does not exist says whether the
// store does: the caller may create a key only when neither exists.
func loadOrRefuse(keyPath, storePath string) (p *local.Provider, mayCreate bool, err error) {
	p, err = local.Load(keyPath)
	if !errors.Is(err, fs.ErrNotExist) {
		return p, false, err
	}
	if _, serr := os.Stat(storePath); serr != nil {
		return nil, true, err
	}
	// The store exists. A first put by another process writes the key
	// before the store, so look once more before refusing.
	if p, err = local.Load(keyPath); !errors.Is(err, fs.ErrNotExist) {
		return p, false, err
	}
	return nil, false, &MissingKeyError{KeyPath: keyPath, StorePath: storePath}
}

func (l *localKeys) provider(create bool) (*local.Provider, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		return l.p, nil
	}
	p, mayCreate, err := loadOrRefuse(l.keyPath, l.storePath)
	switch {
	case mayCreate && create:
		p, err = local.Open(l.keyPath)
	case mayCreate:
		// Nothing was ever stored here, so there is nothing to decrypt.
		return nil, fmt.Errorf("%w: there is no master key %s yet", cloudchain.ErrWrongKey, l.keyPath)
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

// OwnsKey reports whether keyID names the master key. It never creates a
// key: with no key file yet, nothing is owned. A key file that cannot be
// read owns nothing either; the write that follows reports why.
func (l *localKeys) OwnsKey(keyID string) bool {
	p, err := l.provider(false)
	if err != nil {
		return false
	}
	return p.OwnsKey(keyID)
}

// Close closes the master key's provider, if it was loaded (see
// local.Provider.Close for what that does and does not clear).
func (l *localKeys) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil {
		return nil
	}
	return l.p.Close()
}
