package cloudchain

// Delete, Undelete, Rollback and Purge: the changes that act on the versions
// a secret already has.

import (
	"context"
	"errors"
	"fmt"
)

// Delete marks (service, user) as deleted by writing a deletion marker as a
// new version. History is kept; Undelete or Rollback restores the secret.
// The marker is sealed under the service key like a secret, so a marker
// forged in the table fails authentication.
func (s *Store) Delete(ctx context.Context, service, user string, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	cfg, err := putConfigOf(opts)
	if err != nil {
		return 0, err
	}
	return s.writeRecord(ctx, service, user, &cfg, func(cur *Item, _ *serviceKeys) (*change, error) {
		if cur == nil {
			return nil, notFound(service, user)
		}
		if cur.Current().Deleted {
			return nil, fmt.Errorf("%w: %s/%s is already deleted (version %d)", ErrDeleted, service, user, cur.Version())
		}
		return &change{tombstone: true}, nil
	})
}

// Rollback writes the content of version as a new version and returns the
// new version number. History is never rewritten.
func (s *Store) Rollback(ctx context.Context, service, user string, version int64, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	if version < 1 {
		return 0, fmt.Errorf("%w: version must be 1 or more, got %d", ErrInvalidID, version)
	}
	return s.restore(ctx, service, user, opts, func(cur *Item, _ *serviceKeys) (*Record, string, error) {
		rec := cur.Find(version)
		if rec == nil {
			return nil, "", fmt.Errorf("%w: %s/%s has no version %d (%s)", ErrNotFound, service, user, version, keptVersions(cur))
		}
		if rec.Deleted {
			return nil, "", fmt.Errorf("%w: version %d of %s/%s is a deletion marker; roll back to an earlier version", ErrDeleted, version, service, user)
		}
		return rec, fmt.Sprintf("rollback to version %d", version), nil
	})
}

// Undelete restores a deleted secret: it writes the content of the newest
// version before the deletion as a new version. The deletion marker must
// authenticate; a secret that is not deleted gives ErrNotDeleted.
func (s *Store) Undelete(ctx context.Context, service, user string, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	return s.restore(ctx, service, user, opts, func(cur *Item, keys *serviceKeys) (*Record, string, error) {
		marker := cur.Current()
		if !marker.Deleted {
			return nil, "", fmt.Errorf("%w: %s/%s is not deleted (current version %d); nothing to restore", ErrNotDeleted, service, user, marker.Version)
		}
		if _, err := s.openRecord(ctx, keys, service, user, marker); err != nil {
			return nil, "", fmt.Errorf("checking the deletion marker (version %d): %w", marker.Version, err)
		}
		for _, r := range cur.Records {
			if !r.Deleted {
				return r, fmt.Sprintf("undelete: restored version %d", r.Version), nil
			}
		}
		return nil, "", fmt.Errorf("%w: no version of %s/%s before its deletion is kept", ErrNotFound, service, user)
	})
}

// restore is the one path behind Rollback and Undelete: pick chooses a kept
// record, which is authenticated, decrypted and written as a new version.
func (s *Store) restore(ctx context.Context, service, user string, opts []PutOption, pick func(cur *Item, keys *serviceKeys) (*Record, string, error)) (int64, error) {
	cfg, err := putConfigOf(opts)
	if err != nil {
		return 0, err
	}
	var plaintext []byte
	defer func() { Zero(plaintext) }()
	return s.writeRecord(ctx, service, user, &cfg, func(cur *Item, keys *serviceKeys) (*change, error) {
		Zero(plaintext)
		plaintext = nil
		if cur == nil {
			return nil, notFound(service, user)
		}
		rec, comment, err := pick(cur, keys)
		if err != nil {
			return nil, err
		}
		pt, err := s.openRecord(ctx, keys, service, user, rec)
		if err != nil {
			return nil, fmt.Errorf("decrypting %s/%s version %d: %w", service, user, rec.Version, err)
		}
		plaintext = pt
		return &change{plaintext: pt, comment: comment}, nil
	})
}

// Purge removes (service, user) and its whole history. It cannot be undone.
// An item too damaged to decode is removed too, if the backend is a
// Discarder. The service's rollback manifest marks the secret purged first,
// so a purge interrupted half-way leaves the secret readable, and a copy of
// it put back later is refused.
func (s *Store) Purge(ctx context.Context, service, user string) error {
	if err := ValidateID(service, user); err != nil {
		return err
	}
	keys, err := s.loadManifestKeys(ctx, service)
	if err != nil {
		return err
	}
	defer keys.close()
	ringless := !keys.exists()
	author := s.lookupAuthor(ctx)
	v, err := s.purge(ctx, keys, service, user, author)
	if err != nil {
		return err
	}
	if ringless {
		if err := s.markPurgedAfter(ctx, service, author, map[string]int64{user: v}); err != nil {
			return fmt.Errorf("%s/%s was removed, but recording the purge in the service's rollback manifest failed (if reads then report it removed outside cloudchain, `cchain upgrade %s --reset-manifest --yes` makes the manifest again from the table): %w", service, user, service, err)
		}
	}
	if err := s.dropDamagedRing(ctx, service); err != nil {
		return fmt.Errorf("%s/%s was removed, but: %w", service, user, err)
	}
	return nil
}

// purge removes one item, retrying on a conflict, and returns the version
// it removed (0 when a damaged item listed nowhere was discarded).
func (s *Store) purge(ctx context.Context, keys *serviceKeys, service, user, author string) (int64, error) {
	var removing int64
	for attempt := 1; ; attempt++ {
		it, err := s.backend.Load(ctx, service, user)
		if errors.Is(err, ErrNotFound) {
			if attempt > 1 {
				// Gone since the conditional remove failed: it was this
				// very remove, its response lost and the SDK's retry
				// refused by its condition (or a concurrent purge).
				return removing, nil
			}
			return 0, notFound(service, user)
		}
		if d, ok := s.backend.(Discarder); ok && errors.Is(err, ErrMalformed) {
			// A damaged item would otherwise block every write to this
			// secret for good.
			e, listed := keys.entry(user)
			if listed {
				if err := s.markPurged(ctx, keys, service, author, map[string]int64{user: e.Version}); err != nil {
					return 0, err
				}
			}
			if err := d.Discard(ctx, service, user); err != nil {
				return 0, wrapRow("purging damaged", service, user, err)
			}
			return e.Version, nil
		}
		if err != nil {
			return 0, wrapRow("reading", service, user, err)
		}
		if err := s.markPurged(ctx, keys, service, author, map[string]int64{user: it.Version()}); err != nil {
			return 0, err
		}
		removing = it.Version()
		err = s.backend.Remove(ctx, it)
		if err == nil {
			return it.Version(), nil
		}
		if !errors.Is(err, ErrVersionConflict) && ctx.Err() == nil {
			// The remove may have landed with its answer lost and the
			// SDK's retries then failing (throttled, timed out): gone
			// means done.
			if _, lerr := s.backend.Load(ctx, service, user); errors.Is(lerr, ErrNotFound) {
				return it.Version(), nil
			}
		}
		if !errors.Is(err, ErrVersionConflict) || attempt >= s.maxAttempts {
			return 0, wrapRow("purging", service, user, err)
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return 0, err
		}
	}
}

// markPurgedAfter marks secrets purged after they were removed from a
// service that had no key ring when the purge began: a first put into the
// service may have created the ring and a manifest meanwhile, listing them
// alive from its scan, which would then read as a rollback. Reading the ring
// and manifest again after the removal sees any such manifest.
func (s *Store) markPurgedAfter(ctx context.Context, service, author string, users map[string]int64) error {
	keys, err := s.loadManifestKeys(ctx, service)
	if err != nil {
		return err
	}
	defer keys.close()
	if !keys.exists() {
		return nil
	}
	return s.markPurged(ctx, keys, service, author, users)
}

// markPurged marks secrets purged in the service's manifest (users mapped to
// the version that is being removed), unless it says so already. It must
// succeed before anything is removed.
func (s *Store) markPurged(ctx context.Context, keys *serviceKeys, service, author string, users map[string]int64) error {
	var entries []manEntry
	for u, v := range users {
		e, ok := keys.entry(u)
		if ok && e.Purged && e.Version >= v {
			continue
		}
		if ok {
			// A row older than the manifest (rolled back) is purged at
			// the version the manifest knows, or the mark would not
			// supersede it.
			v = max(v, e.Version)
		}
		entries = append(entries, manEntry{Hash: hashUser(u), Version: max(v, 1), Purged: true})
	}
	if len(entries) == 0 {
		return nil
	}
	if err := keys.note(ctx, author, entries); err != nil {
		return fmt.Errorf("marking secrets of %s purged in its rollback manifest (nothing was removed): %w", service, err)
	}
	return nil
}

// loadManifestKeys reads a service's key ring and rollback manifest for a
// purge. A damaged key ring gives no manifest to keep up to date: nothing
// sealed under it can be read, and purging is how it is cleared away.
func (s *Store) loadManifestKeys(ctx context.Context, service string) (*serviceKeys, error) {
	keys, err := s.loadKeys(ctx, service)
	if errors.Is(err, ErrMalformed) {
		return s.serviceKeysOf(service, nil)
	}
	if err != nil {
		return nil, err
	}
	if err := s.reloadManifest(ctx, keys, service); err != nil {
		keys.close()
		return nil, err
	}
	return keys, nil
}

// dropDamagedRing removes the key ring of service if it is damaged and the
// service holds no secret any more: every record sealed under a damaged ring
// is unreadable, and the ring would block every later write. A ring that
// reads, or a service with secrets left, is left alone.
func (s *Store) dropDamagedRing(ctx context.Context, service string) error {
	d, ok := s.backend.(Discarder)
	if !ok {
		return nil
	}
	if _, err := s.backend.Load(ctx, service, ServiceKeyUser); !errors.Is(err, ErrMalformed) {
		return nil
	}
	left, err := s.usersWhere(ctx, service, func(*Record) bool { return true })
	if err != nil || len(left) > 0 {
		return err
	}
	if err := d.Discard(ctx, service, ServiceKeyUser); err != nil {
		return fmt.Errorf("removing the damaged key ring of %s: %w", service, err)
	}
	return nil
}
