package cloudchain

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A KeyOwner is a KeyProvider that can tell, without a request, whether a key
// id names one of the keys it can decrypt with. The Store asks it before
// writing over a record made under another key: a write under a replaced
// master key would leave versions that no single key can read.
type KeyOwner interface {
	// OwnsKey reports whether records wrapped under keyID can be decrypted
	// by this provider. When it cannot tell, it must answer true.
	OwnsKey(keyID string) bool
}

// serviceKeys is one service's key ring as one operation sees it, with the
// service keys it has unwrapped so far. It is the one place where service
// keys are created, unwrapped, verified and cleared, so that Get, the bulk
// paths, Upgrade and rotation cannot disagree. It is safe for concurrent use.
type serviceKeys struct {
	st      *Store
	service string

	mu       sync.Mutex
	item     *Item    // the stored key ring item, nil if the service has none
	ring     *keyring // its decoded content
	plain    map[int64][]byte
	failed   map[int64]error // unwraps that failed, so a bulk read asks once
	verified bool            // the ring's MAC was checked under the newest key
	mf       manifestState   // the service's rollback manifest (manifestkeys.go)
	observed bool            // the Watermark has seen this ring and manifest
	scanned  *manifest       // what a new manifest lists, if this operation scanned the service
	reloaded bool            // the ring was read again for a version it lacked (keyLocked)
}

func (s *Store) serviceKeysOf(service string, item *Item) (*serviceKeys, error) {
	k := &serviceKeys{st: s, service: service, plain: map[int64][]byte{}}
	if err := k.setItem(item); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *serviceKeys) setItem(item *Item) error {
	if item != nil && item.Malformed != nil {
		// Never read a damaged ring as "no ring": that would accept legacy
		// records in a sealed service.
		return fmt.Errorf("the key ring of %s: %w", k.service, item.Malformed)
	}
	if item == nil || item.Current() == nil {
		k.item, k.ring = nil, nil
		return nil
	}
	ring, err := decodeKeyring(k.service, item.Current())
	if err != nil {
		return err
	}
	k.item, k.ring, k.verified, k.observed = item, ring, false, false
	return nil
}

// info describes rec, naming for a FormatV2 record the key-provider key that
// wraps its service key version.
func (k *serviceKeys) info(rec *Record) VersionInfo {
	info := infoOf(rec)
	if rec.Format == FormatV2 {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.ring != nil {
			if e := k.ring.entry(rec.KeyVersion); e != nil {
				info.KeyID = e.KeyID
			}
		}
	}
	return info
}

// close clears every unwrapped key.
func (k *serviceKeys) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for v, p := range k.plain {
		Zero(p)
		delete(k.plain, v)
	}
}

// exists reports whether the service has a key ring.
func (k *serviceKeys) exists() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring != nil
}

// sealed reports whether the ring says the service holds no legacy record.
// The answer is only trustworthy after verify.
func (k *serviceKeys) sealed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring != nil && k.ring.Sealed
}

// key returns the plaintext of service key version v, unwrapping it at most
// once per operation (and not at all when the Store's cache holds it).
func (k *serviceKeys) key(ctx context.Context, v int64) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keyLocked(ctx, v)
}

func (k *serviceKeys) keyLocked(ctx context.Context, v int64) ([]byte, error) {
	if p := k.plain[v]; p != nil {
		return p, nil
	}
	if !k.reloaded && (k.ring == nil || v > k.ring.newest().Version) {
		// A record or manifest sealed under a version newer than the ring
		// in hand: the ring was read before a rotation (the items of one
		// batch are read in no set order, and a writer re-reads the secret
		// and the manifest after a conflict, not the ring). Versions only
		// grow, so the stored ring holds it unless it was tampered with.
		if err := k.reloadRingLocked(ctx); err != nil {
			return nil, err
		}
	}
	if err := k.failed[v]; err != nil {
		return nil, err
	}
	p, err := k.unwrapLocked(ctx, v)
	if err != nil && ctx.Err() == nil {
		if k.failed == nil {
			k.failed = map[int64]error{}
		}
		k.failed[v] = err
	}
	return p, err
}

// reloadRingLocked reads the key ring again, once per operation, forgetting
// the failures that the ring in hand caused.
func (k *serviceKeys) reloadRingLocked(ctx context.Context) error {
	k.reloaded = true
	stored, err := k.st.load(ctx, k.service, ServiceKeyUser)
	if err != nil {
		return err
	}
	if stored == nil || (k.item != nil && stored.Version() <= k.item.Version()) {
		return nil // nothing newer: keep what was checked
	}
	if err := k.setItem(stored); err != nil {
		return err
	}
	clear(k.failed)
	return nil
}

func (k *serviceKeys) unwrapLocked(ctx context.Context, v int64) ([]byte, error) {
	if k.ring == nil {
		return nil, fmt.Errorf("%w: a record of service %s is sealed under service key version %d, but the service has no key ring", ErrAuthentication, k.service, v)
	}
	e := k.ring.entry(v)
	if e == nil {
		return nil, fmt.Errorf("%w: a record of service %s is sealed under service key version %d, which its key ring does not hold", ErrAuthentication, k.service, v)
	}
	p := k.st.cache.get(k.service, e)
	fromCache := p != nil
	if !fromCache {
		var err error
		p, err = k.st.keys.Decrypt(ctx, e.KeyID, e.Wrapped, ServiceContext(k.service))
		if err != nil {
			return nil, fmt.Errorf("unwrapping service key version %d of %s: %w", v, k.service, err)
		}
		if len(p) != dataKeySize {
			Zero(p)
			return nil, fmt.Errorf("%w: service key version %d of %s has the wrong size", ErrAuthentication, v, k.service)
		}
	}
	if v == k.ring.newest().Version && !k.verified {
		if err := k.ring.verify(k.service, k.item.Current(), p); err != nil {
			Zero(p)
			return nil, err
		}
		k.verified = true
	}
	if !fromCache {
		k.st.cache.put(k.service, e, p)
	}
	k.plain[v] = p
	return p, nil
}

// verify checks the ring's MAC (unwrapping the newest key if needed). A
// service without a ring has nothing to verify.
func (k *serviceKeys) verify(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil || k.verified {
		return nil
	}
	_, err := k.keyLocked(ctx, k.ring.newest().Version)
	return err
}

// current returns the newest service key version and its plaintext,
// creating the service's key ring first if it has none.
func (k *serviceKeys) current(ctx context.Context, author string) (int64, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		if err := k.createLocked(ctx, author); err != nil {
			return 0, nil, err
		}
	}
	v := k.ring.newest().Version
	p, err := k.keyLocked(ctx, v)
	return v, p, err
}

// createLocked makes version 1 of the service key and stores the ring with a
// conditional create. When another process created one first, it adopts
// that one instead, so concurrent first puts converge on one ring.
func (k *serviceKeys) createLocked(ctx context.Context, author string) error {
	sealed, scanned, err := k.st.holdsNoLegacy(ctx, k.service)
	if err != nil {
		return err
	}
	k.scanned = scanned
	dk, err := k.st.keys.GenerateDataKey(ctx, ServiceContext(k.service))
	if err != nil {
		return fmt.Errorf("generating the service key of %s: %w", k.service, err)
	}
	ring := &keyring{
		Entries: []keyEntry{{Version: 1, KeyID: dk.KeyID, Context: ServiceContext(k.service), Wrapped: dk.Wrapped}},
		Sealed:  sealed,
	}
	rec := &Record{Format: FormatKeyring, Version: 1, Created: k.st.clock().UTC(), Author: author}
	if err := ring.seal(k.service, rec, dk.Plaintext); err != nil {
		Zero(dk.Plaintext)
		return err
	}
	item := &Item{Service: k.service, User: ServiceKeyUser, Records: []*Record{rec}}
	_, err = k.st.backend.Save(ctx, nil, item)
	if err == nil {
		k.item, k.ring, k.verified, k.observed = item, ring, true, false
		k.plain[1] = dk.Plaintext
		k.st.cache.put(k.service, &ring.Entries[0], dk.Plaintext)
		return nil
	}
	Zero(dk.Plaintext)
	if !errors.Is(err, ErrVersionConflict) {
		return fmt.Errorf("creating the key ring of %s: %w", k.service, err)
	}
	// Another writer created the ring first (or this very write landed and
	// its response was lost): use what is stored.
	stored, err := k.st.backend.Load(ctx, k.service, ServiceKeyUser)
	if err != nil {
		return fmt.Errorf("reading the key ring of %s: %w", k.service, err)
	}
	return k.setItem(stored)
}

// rotate adds a new version of the service key, which new records are then
// sealed under. Older versions stay in the ring for reading.
func (k *serviceKeys) rotate(ctx context.Context, author string) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		if err := k.createLocked(ctx, author); err != nil {
			return 0, err
		}
		return 1, nil
	}
	// Check the ring before extending it.
	if _, err := k.keyLocked(ctx, k.ring.newest().Version); err != nil {
		return 0, err
	}
	dk, err := k.st.keys.GenerateDataKey(ctx, ServiceContext(k.service))
	if err != nil {
		return 0, fmt.Errorf("generating a service key of %s: %w", k.service, err)
	}
	next := &keyring{Entries: append(append([]keyEntry(nil), k.ring.Entries...), keyEntry{
		Version: k.ring.newest().Version + 1, KeyID: dk.KeyID, Context: ServiceContext(k.service), Wrapped: dk.Wrapped,
	}), Sealed: k.ring.Sealed, Manifest: k.ring.Manifest}
	if err := k.saveLocked(ctx, next, dk.Plaintext, author); err != nil {
		Zero(dk.Plaintext)
		return 0, err
	}
	v := next.newest().Version
	k.plain[v] = dk.Plaintext
	k.st.cache.put(k.service, next.newest(), dk.Plaintext)
	return v, nil
}

// setSealed rewrites the ring with the sealed flag set or cleared.
func (k *serviceKeys) setSealed(ctx context.Context, sealed bool, author string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		if err := k.createLocked(ctx, author); err != nil {
			return err
		}
	}
	if k.ring.Sealed == sealed {
		return nil
	}
	newest, err := k.keyLocked(ctx, k.ring.newest().Version)
	if err != nil {
		return err
	}
	next := &keyring{Entries: k.ring.Entries, Sealed: sealed, Manifest: k.ring.Manifest}
	return k.saveLocked(ctx, next, newest, author)
}

// saveLocked writes next as the new ring, MAC'd under newestKey, on the
// condition that the stored ring is still the one read.
func (k *serviceKeys) saveLocked(ctx context.Context, next *keyring, newestKey []byte, author string) error {
	prev := k.item
	rec := &Record{Format: FormatKeyring, Version: prev.Version() + 1, Created: k.st.clock().UTC(), Author: author}
	if err := next.seal(k.service, rec, newestKey); err != nil {
		return err
	}
	item := &Item{Service: k.service, User: ServiceKeyUser, Records: []*Record{rec}}
	if _, err := k.st.backend.Save(ctx, prev, item); err != nil && !k.st.landedAnyway(ctx, k.service, ServiceKeyUser, rec, err) {
		return fmt.Errorf("writing the key ring of %s: %w", k.service, err)
	}
	k.item, k.ring, k.verified, k.observed = item, next, true, false
	return nil
}

// holdsNoLegacy says whether a new key ring may be marked sealed: legacy
// reads are off, or the service holds no legacy record at all (current or
// in history) and this Store does not write the legacy format.
//
// When it scans the whole service, it also returns what a new rollback
// manifest of it must list, so that the first put does not scan twice.
func (s *Store) holdsNoLegacy(ctx context.Context, service string) (bool, *manifest, error) {
	if !s.legacyReads {
		return true, nil, nil
	}
	if s.legacyWrites {
		return false, nil, nil
	}
	found := errors.New("found a legacy record")
	m := &manifest{}
	err := s.backend.Items(ctx, service, true, func(it *Item) error {
		for _, r := range it.Records {
			if r.Format == FormatLegacy {
				return found
			}
		}
		if !IsReservedUser(it.User) && it.Current() != nil {
			m.set(manEntry{Hash: hashUser(it.User), Version: it.Version()})
		}
		return nil
	})
	switch {
	case errors.Is(err, found):
		return false, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("checking %s for legacy records: %w", service, err)
	}
	return true, m, nil
}

// rewrap wraps every version of the service key again under to's key, and
// stores the ring with the same versions, seal and MAC key. Records are not
// touched. It returns how many versions it re-wrapped.
func (k *serviceKeys) rewrap(ctx context.Context, to Encrypter, author string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return 0, nil
	}
	newest, err := k.keyLocked(ctx, k.ring.newest().Version)
	if err != nil {
		return 0, err
	}
	next := &keyring{Sealed: k.ring.Sealed, Manifest: k.ring.Manifest}
	for _, e := range k.ring.Entries {
		plain, err := k.keyLocked(ctx, e.Version)
		if err != nil {
			return 0, err
		}
		wrapped, keyID, err := to.Encrypt(ctx, plain, ServiceContext(k.service))
		if err != nil {
			return 0, fmt.Errorf("wrapping service key version %d of %s under the new key: %w", e.Version, k.service, err)
		}
		next.Entries = append(next.Entries, keyEntry{Version: e.Version, KeyID: keyID, Context: ServiceContext(k.service), Wrapped: wrapped})
	}
	if err := k.saveLocked(ctx, next, newest, author); err != nil {
		return 0, err
	}
	return len(next.Entries), nil
}
