package cloudchain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// manifestState is a service's rollback manifest as one operation sees it.
type manifestState struct {
	item     *Item     // the stored manifest item, nil if there is none
	m        *manifest // its decoded content, nil if none or damaged
	err      error     // why it did not decode
	verified bool      // its MAC was checked
}

// ServiceState is what a Watermark remembers of a service: which key ring it
// has (a service whose ring was replaced starts afresh), and how many times
// its key ring and its rollback manifest were written. A store that shows a
// lower count than one seen before has been rolled back.
type ServiceState struct {
	Ring            string // identifies the key ring: a hash of its first key version
	RingVersion     int64  // the key ring item's version
	ManifestVersion int64  // the manifest's version, 0 if it has none in force
}

// A Watermark remembers the newest ServiceState seen of each service (a
// client-side high-water mark, as TUF clients keep). Observe records st and
// returns an error wrapping ErrAuthentication if an earlier observation of
// the same ring was newer. It must be safe for concurrent use.
type Watermark interface {
	Observe(ctx context.Context, service string, st ServiceState) error
}

// setManifestLocked sets the stored manifest item read with the ring.
func (k *serviceKeys) setManifestLocked(item *Item) {
	k.mf = manifestState{item: item}
	k.observed = false
	switch {
	case item == nil:
	case item.Malformed != nil:
		k.mf.err = fmt.Errorf("%w: the rollback manifest of service %s cannot be decoded (%v)", ErrAuthentication, k.service, item.Malformed)
	case item.Current() == nil:
		k.mf.item = nil
	default:
		k.mf.m, k.mf.err = decodeManifest(k.service, item.Current())
	}
}

func (k *serviceKeys) setManifest(item *Item) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.setManifestLocked(item)
}

// enforcedLocked verifies the key ring and returns the service's manifest
// when the ring says it is in force, checked under its MAC; nil when the
// service has no ring or no manifest in force yet. A manifest that is in
// force but missing or altered is an error wrapping ErrAuthentication.
func (k *serviceKeys) enforcedLocked(ctx context.Context) (*manifest, error) {
	if k.ring == nil {
		return nil, nil
	}
	// The ring's manifest flag is trusted only under the ring's MAC.
	if _, err := k.keyLocked(ctx, k.ring.newest().Version); err != nil {
		return nil, err
	}
	if !k.ring.Manifest {
		return nil, k.observeLocked(ctx)
	}
	err := k.manifestErrLocked(ctx)
	if err != nil && ctx.Err() == nil {
		// The manifest may have been read before the ring: in one batch
		// items are read in no set order, and the ring may have been
		// adopted or re-read since. The flag is set only after a manifest
		// exists, so a manifest read now, after the ring, is there.
		it, lerr := k.st.loadManifest(ctx, k.service)
		if lerr != nil {
			return nil, lerr
		}
		k.setManifestLocked(it)
		err = k.manifestErrLocked(ctx)
	}
	if err != nil {
		return nil, err
	}
	return k.mf.m, k.observeLocked(ctx)
}

// manifestErrLocked says what is wrong with the manifest in hand, if
// anything, verifying it.
func (k *serviceKeys) manifestErrLocked(ctx context.Context) error {
	switch {
	case k.mf.item == nil:
		return fmt.Errorf("%w: the rollback manifest of service %s is missing: it was removed outside cloudchain (restore it from a backup)", ErrAuthentication, k.service)
	case k.mf.err != nil:
		return k.mf.err
	}
	return k.verifyManifestLocked(ctx)
}

func (k *serviceKeys) verifyManifestLocked(ctx context.Context) error {
	if k.mf.verified {
		return nil
	}
	if k.mf.m == nil {
		return k.mf.err
	}
	key, err := k.keyLocked(ctx, k.mf.m.KeyVersion)
	if err != nil {
		return fmt.Errorf("checking the rollback manifest of %s: %w", k.service, err)
	}
	if err := k.mf.m.verify(k.service, k.mf.item.Current(), key); err != nil {
		return err
	}
	k.mf.verified = true
	return nil
}

// observeLocked tells the Store's Watermark the state just verified.
func (k *serviceKeys) observeLocked(ctx context.Context) error {
	if k.st.watermark == nil || k.observed || k.ring == nil {
		return nil
	}
	st := ServiceState{RingVersion: k.item.Version()}
	sum := sha256.Sum256(k.ring.Entries[0].Wrapped)
	st.Ring = hex.EncodeToString(sum[:12])
	if k.ring.Manifest && k.mf.verified {
		st.ManifestVersion = k.mf.item.Version()
	}
	if err := k.st.watermark.Observe(ctx, k.service, st); err != nil {
		return err
	}
	k.observed = true
	return nil
}

// checkRow checks the item read for user (nil if there is none) against the
// service's manifest.
func (k *serviceKeys) checkRow(ctx context.Context, user string, row *Item) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, err := k.enforcedLocked(ctx)
	if err != nil || m == nil {
		return err
	}
	return k.checkAgainstLocked(m, user, row)
}

func (k *serviceKeys) checkAgainstLocked(m *manifest, user string, row *Item) error {
	e, ok := m.lookup(user)
	if !ok {
		return nil
	}
	cur := row.Current()
	if cur == nil {
		if e.Purged {
			return nil
		}
		return &RollbackError{Service: k.service, User: user, Listed: e.Version}
	}
	// A legacy record is never checked here: a Python client may overwrite
	// a secret of a service that still takes legacy records (such a record
	// is unauthenticated anyway), and one in a service that no longer does
	// is refused as a legacy record planted there (openLegacy).
	if cur.Format == FormatLegacy {
		return nil
	}
	switch {
	case e.Purged && cur.Version == e.Version:
		// A purge that marked the secret and then stopped before removing
		// it (or that very copy put back): it is gone, not tampered with.
		return &purgedRowError{service: k.service, user: user, version: e.Version}
	case cur.Version >= e.Version:
		return nil
	}
	return &RollbackError{Service: k.service, User: user, Found: cur.Version, Listed: e.Version, Purged: e.Purged}
}

// purgedRowError says that the item read was purged (the manifest marks its
// version purged) but is still in the table. It wraps ErrNotFound.
type purgedRowError struct {
	service, user string
	version       int64
}

func (e *purgedRowError) Error() string {
	return fmt.Sprintf("%v: %s/%s was purged at version %d, but the purge did not finish (run it again to remove what is left)", ErrNotFound, e.service, e.user, e.version)
}

func (e *purgedRowError) Unwrap() error { return ErrNotFound }

// floor returns the version the manifest lists for user (0 if none): a new
// version of user must be higher, so that a secret purged and put again, or
// rolled back and put again, never reuses a version number.
func (k *serviceKeys) floor(ctx context.Context, user string) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, err := k.enforcedLocked(ctx)
	if err != nil || m == nil {
		return 0, err
	}
	e, _ := m.lookup(user)
	return e.Version, nil
}

// entry returns what the manifest as last read or written lists for user.
func (k *serviceKeys) entry(user string) (manEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mf.m == nil {
		return manEntry{}, false
	}
	return k.mf.m.lookup(user)
}

// reloadManifest reads the service's manifest again, after a write
// conflict, so that a retry sees a purge that happened meanwhile.
func (s *Store) reloadManifest(ctx context.Context, keys *serviceKeys, service string) error {
	it, err := s.loadManifest(ctx, service)
	if err != nil {
		return err
	}
	keys.setManifest(it)
	return nil
}

// loadManifest reads a service's manifest alone: nil if there is none, an
// item marked Malformed if it cannot be decoded.
func (s *Store) loadManifest(ctx context.Context, service string) (*Item, error) {
	it, err := s.loadItem(ctx, service, ManifestUser)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case errors.Is(err, ErrMalformed):
		return &Item{Service: service, User: ManifestUser, Malformed: err}, nil
	case err != nil:
		return nil, fmt.Errorf("reading the rollback manifest of %s: %w", service, err)
	}
	return it, nil
}

// loadItem reads one item with the request a reader's policy allows
// (BatchGetItem, through BatchLoader, where the backend has it), so that the
// re-reads of rollback checks need no permission beyond a read's. No item
// is an error wrapping ErrNotFound, as Load's.
func (s *Store) loadItem(ctx context.Context, service, user string) (*Item, error) {
	bl, ok := s.backend.(BatchLoader)
	if !ok {
		return s.backend.Load(ctx, service, user)
	}
	items, err := bl.LoadBatch(ctx, service, []string{user})
	switch {
	case err != nil:
		return nil, err
	case len(items) != 1:
		return nil, fmt.Errorf("reading %s/%s: the backend returned %d items for 1 key", service, user, len(items))
	case items[0] == nil || len(items[0].Records) == 0:
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, service, user)
	}
	return items[0], nil
}

// checkItems checks the items of a whole-service read against the manifest:
// one error (or nil) per item, and the entries of the secrets the manifest
// lists as alive that the read did not return.
func (k *serviceKeys) checkItems(ctx context.Context, items []*Item) ([]error, []manEntry, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, err := k.enforcedLocked(ctx)
	if err != nil || m == nil {
		return nil, nil, err
	}
	out := make([]error, len(items))
	for i, it := range items {
		if it.Malformed == nil {
			out[i] = k.checkAgainstLocked(m, it.User, it)
		}
	}
	return out, missingEntries(m, items), nil
}

// missingEntries returns the entries of m listed as alive whose secret is
// not among items.
func missingEntries(m *manifest, items []*Item) []manEntry {
	seen := make(map[userHash]bool, len(items))
	for _, it := range items {
		seen[hashUser(it.User)] = true
	}
	var out []manEntry
	for _, e := range m.Entries {
		if !e.Purged && !seen[e.Hash] {
			out = append(out, e)
		}
	}
	return out
}

// confirmMissing confirms that the secrets of missing (listed alive by the
// manifest, absent from a whole-service read) are really gone: a purge that
// ran while the pages were read marks the manifest and then removes the
// secret, so it reads the manifest again and then the service, and returns
// an error only for entries missing, at the same version, both times.
func (s *Store) confirmMissing(ctx context.Context, keys *serviceKeys, service string, missing []manEntry) error {
	if len(missing) == 0 {
		return nil
	}
	if err := s.reloadManifest(ctx, keys, service); err != nil {
		return err
	}
	items, err := s.secretItems(ctx, service)
	if err != nil {
		return err
	}
	keys.mu.Lock()
	m, err := keys.enforcedLocked(ctx)
	keys.mu.Unlock()
	if err != nil || m == nil {
		return err
	}
	again := map[manEntry]bool{}
	for _, e := range missingEntries(m, items) {
		again[e] = true
	}
	n := 0
	for _, e := range missing {
		if again[e] {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d secrets that its rollback manifest lists are missing from the table: they were removed outside cloudchain (restore them from a backup)", ErrAuthentication, n)
}
