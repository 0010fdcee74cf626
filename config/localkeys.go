package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/keys/local"
)

// ErrKeyPermissions means the embedded store's master key file, or its
// directory, can be read or written by other users; it is local.ErrKeyPermissions,
// named here so that programs that use config need not import keys/local.
var ErrKeyPermissions = local.ErrKeyPermissions

// localKeys opens the embedded default's master keys on first use: reading
// commands never create a key, a write creates the key file on a fresh
// machine, and a missing key next to an existing store is refused instead of
// being silently replaced by a new key that could decrypt nothing already
// stored.
//
// Besides the key file it loads the keys of a move to a new master key (see
// keys/local): the new key at local.NextPath, which then wraps every new
// service key, and the old keys kept at local.RetiredPath, which only
// decrypt. The files are read in the order next, key file, retired keys:
// whatever step of the move another process takes meanwhile, the keys read
// then include every key that anything stored is wrapped under (see
// TestLocalKeysReadOrder). A wrapped key that names a local key the loaded
// keys lack makes it read the files again, once per call, so a long-lived
// Store follows a move made by another process; so does every new data key,
// which is rare (a new service, or a new service key version).
type localKeys struct {
	keyPath, storePath string

	mu     sync.Mutex
	set    *local.Set
	closed bool
}

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

// afterKeyRead, when set by a test, runs after the first and the second of
// the three reads of loadKeySet, so that the test can move the files on
// between them.
var afterKeyRead func(step int)

// loadKeySet reads the key files in the order next, key file, retired.
func loadKeySet(keyPath, storePath string, create bool) (*local.Set, error) {
	next, err := local.LoadNext(keyPath)
	if err != nil {
		return nil, err
	}
	if afterKeyRead != nil {
		afterKeyRead(0)
	}
	closeAll := func(ps ...*local.Provider) {
		for _, p := range ps {
			if p != nil {
				p.Close()
			}
		}
	}
	main, mayCreate, err := loadOrRefuse(keyPath, storePath)
	switch {
	case mayCreate && create:
		main, err = local.Open(keyPath)
	case mayCreate:
		// Nothing was ever stored here, so there is nothing to decrypt.
		closeAll(next)
		return nil, fmt.Errorf("%w: there is no master key %s yet", cloudchain.ErrWrongKey, keyPath)
	}
	if err != nil {
		closeAll(next)
		return nil, err
	}
	if afterKeyRead != nil {
		afterKeyRead(1)
	}
	retired, err := local.LoadRetired(keyPath)
	if err != nil {
		closeAll(next, main)
		return nil, err
	}
	if next == nil {
		return local.NewSet(main, retired...), nil
	}
	return local.NewSet(next, append([]*local.Provider{main}, retired...)...), nil
}

// keys returns the loaded keys, loading them if reload is set or nothing
// was loaded yet.
func (l *localKeys) keys(create, reload bool) (*local.Set, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, local.ErrClosed
	}
	if l.set != nil && !reload {
		return l.set, nil
	}
	set, err := loadKeySet(l.keyPath, l.storePath, create)
	if err != nil {
		return nil, err
	}
	// The set replaced may still be in use by another goroutine, so it is
	// not closed: it is dropped, and the collector takes it (Close does no
	// more than that for key material; see local.Provider.Close).
	l.set = set
	return set, nil
}

// keysFor returns the loaded keys, reading the files again when keyID names
// a local key that they lack.
func (l *localKeys) keysFor(keyID string) (*local.Set, error) {
	set, err := l.keys(false, false)
	if err != nil || set.OwnsKey(keyID) || !strings.HasPrefix(keyID, "local:") {
		return set, err
	}
	return l.keys(false, true)
}

// GenerateDataKey implements cloudchain.KeyProvider. It reads the key files
// again first, so that a new service key is wrapped under the newest key
// even in a long-lived Store.
func (l *localKeys) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	set, err := l.keys(true, true)
	if err != nil {
		return nil, err
	}
	return set.GenerateDataKey(ctx, encCtx)
}

// Decrypt implements cloudchain.KeyProvider.
func (l *localKeys) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) ([]byte, error) {
	set, err := l.keysFor(keyID)
	if err != nil {
		return nil, err
	}
	return set.Decrypt(ctx, keyID, ciphertext, encCtx)
}

// OwnsKey reports whether keyID names one of the master keys. It never
// creates a key: with no key file yet, nothing is owned. A key file that
// cannot be read owns nothing either; the write that follows reports why.
func (l *localKeys) OwnsKey(keyID string) bool {
	set, err := l.keysFor(keyID)
	if err != nil {
		return false
	}
	return set.OwnsKey(keyID)
}

// Close closes the keys loaded last (see local.Provider.Close for what that
// does and does not clear); the provider cannot be used afterwards.
func (l *localKeys) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set != nil {
		l.set.Close()
	}
	l.set, l.closed = nil, true
	return nil
}

// OpenWithLocalKeys opens the embedded store as Open does, but with keys
// as its key provider instead of the master key files: for moving the store
// to a new master key, and for checking afterwards that everything opens
// under the new key alone. opts come after the configured options.
func (c *Config) OpenWithLocalKeys(keys cloudchain.KeyProvider, opts ...cloudchain.Option) (*cloudchain.Store, error) {
	if c.Backend != BackendLocal {
		return nil, fmt.Errorf("%w: the %s backend has no local master key", ErrConfig, c.Backend)
	}
	b, err := bolt.Open(c.LocalStorePath(), bolt.WithTimeout(c.LockTimeout))
	if err != nil {
		return nil, err
	}
	all := []cloudchain.Option{cloudchain.WithHistoryDepth(c.HistoryDepth), cloudchain.WithLegacyReads(c.LegacyReads), cloudchain.WithAuthor(localAuthor)}
	all = append(all, c.watermarkOption()...)
	if c.Notify != nil {
		all = append(all, cloudchain.WithNotices(c.Notify))
	}
	return cloudchain.New(b, keys, append(all, opts...)...), nil
}

// KeyUse counts the records of the embedded store that carry their own data
// key wrapped under one master key: records of releases before service keys
// (format v1) and legacy records. Service keys are not counted here.
type KeyUse struct {
	// Current counts current versions (cchain upgrade re-saves them under
	// the service key); History counts earlier versions, which stay until
	// newer versions push them out of the history or the secret is purged.
	Current, History int
	// Services names the services that hold them, sorted.
	Services []string
}

// LocalKeyUse scans the whole embedded store, every version of every
// secret, without decrypting anything, and counts the records wrapped under
// each of keyIDs. damaged counts the items that could not be decoded, which
// may hold such records too.
func (c *Config) LocalKeyUse(ctx context.Context, keyIDs ...string) (use map[string]*KeyUse, damaged int, err error) {
	if c.Backend != BackendLocal {
		return nil, 0, fmt.Errorf("%w: the %s backend has no local master key", ErrConfig, c.Backend)
	}
	b, err := bolt.Open(c.LocalStorePath(), bolt.WithTimeout(c.LockTimeout))
	if err != nil {
		return nil, 0, err
	}
	use = map[string]*KeyUse{}
	for _, id := range keyIDs {
		use[id] = &KeyUse{}
	}
	var services []string
	if err := b.Services(ctx, func(s string) error { services = append(services, s); return nil }); err != nil {
		return nil, 0, fmt.Errorf("listing services: %w", err)
	}
	for _, svc := range services {
		err := b.Items(ctx, svc, true, func(it *cloudchain.Item) error {
			if it.Malformed != nil {
				damaged++
				return nil
			}
			for i, r := range it.Records {
				u := use[r.KeyID]
				if u == nil || !ownDataKey(r) {
					continue
				}
				if i == 0 {
					u.Current++
				} else {
					u.History++
				}
				if !slices.Contains(u.Services, svc) {
					u.Services = append(u.Services, svc)
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("reading %s: %w", svc, err)
		}
	}
	return use, damaged, nil
}

// ownDataKey says whether r carries something wrapped or encrypted under
// its key id itself, rather than under its service key.
func ownDataKey(r *cloudchain.Record) bool {
	switch r.Format {
	case cloudchain.FormatV1:
		return len(r.WrappedKey) > 0
	case cloudchain.FormatLegacy:
		return len(r.Ciphertext) > 0
	}
	return false
}
