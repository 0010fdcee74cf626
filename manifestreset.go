package cloudchain

import (
	"context"
	"fmt"
)

// ResetManifest makes the rollback manifest of service again from what the
// table holds now, for when it was removed or damaged (every read and write
// of the service refuses until it is restored). It trusts the table: a
// secret rolled back before the reset is accepted as it is, so check the
// service's secrets (cchain history) before resetting, or restore the
// manifest item from a backup instead. The purge marks of a stored manifest
// that still verifies are kept. It returns how many secrets the new
// manifest lists. It costs the Query pages of the service, one key-provider
// call to check the key ring, and one or two writes.
func (s *Store) ResetManifest(ctx context.Context, service string) (int, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return 0, err
	}
	defer keys.close()
	if !keys.exists() {
		return 0, fmt.Errorf("%w: service %s has no key ring, so no manifest to reset", ErrNotFound, service)
	}
	if err := keys.verify(ctx); err != nil {
		return 0, err
	}
	m, err := s.scanManifest(ctx, service)
	if err != nil {
		return 0, err
	}
	stored, err := s.loadManifest(ctx, service)
	if err != nil {
		return 0, err
	}
	author := s.lookupAuthor(ctx)
	keys.mu.Lock()
	defer keys.mu.Unlock()
	keys.setManifestLocked(stored)
	if keys.mf.m != nil && keys.verifyManifestLocked(ctx) == nil {
		// Keep the purge marks of a stored manifest that is genuine: the
		// leftover of a half-done purge stays purged, and a purged
		// secret's version numbers do not restart.
		for _, e := range keys.mf.m.Entries {
			if e.Purged {
				m.set(e)
			}
		}
	}
	// The manifest's revision must not go back, or a client's high-water
	// mark would take the reset for a rollback: continue from the stored
	// one, or, when it cannot be read, from the clock.
	floor := stored.Version()
	if keys.mf.m == nil {
		floor = max(floor, s.clock().Unix())
	}
	if err := keys.saveManifestAtLocked(ctx, m, author, floor+1); err != nil {
		return 0, err
	}
	if !keys.ring.Manifest {
		newest, err := keys.keyLocked(ctx, keys.ring.newest().Version)
		if err != nil {
			return 0, err
		}
		ring := &keyring{Entries: keys.ring.Entries, Sealed: keys.ring.Sealed, Manifest: true}
		if err := keys.saveLocked(ctx, ring, newest, author); err != nil {
			return 0, err
		}
	}
	return len(m.Entries), keys.observeLocked(ctx)
}
