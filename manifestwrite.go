package cloudchain

// Writing a service's rollback manifest: after a secret (note), with it
// (pairedManifest, for backends that write both in one step), and from
// scratch (scanManifest).

import (
	"context"
	"errors"
	"fmt"
)

// note brings the manifest up to date with entries (versions just written,
// or purges), creating it if the service has none (listing every secret it
// holds), and then sets the ring's manifest flag if it is not set yet. The
// order matters: the flag is set only once a manifest exists, so a crash
// between the two writes leaves a manifest that is simply not in force yet.
func (k *serviceKeys) note(ctx context.Context, author string, entries []manEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return nil
	}
	for attempt := 1; ; attempt++ {
		m, err := k.enforcedLocked(ctx)
		if err != nil {
			return err
		}
		var next *manifest
		switch {
		case m != nil:
			next = m.clone()
		case k.mf.m != nil && k.verifyManifestLocked(ctx) == nil:
			next = k.mf.m.clone()
		case k.scanned != nil:
			next = k.scanned.clone()
		default:
			if next, err = k.st.scanManifest(ctx, k.service); err != nil {
				return err
			}
		}
		changed := k.mf.m == nil || !k.mf.verified
		full := 0
		for _, e := range entries {
			c, f := next.set(e)
			changed = changed || c
			if f {
				full++
			}
		}
		if full > 0 {
			k.st.notice(NoticeManifest, k.service, "", "the rollback manifest of %s is full (%d secrets): %d secrets just written and those added from now on are not protected against rollback", k.service, maxManifestEntries, full)
		}
		if changed {
			err := k.saveManifestLocked(ctx, next, author)
			if errors.Is(err, ErrVersionConflict) && attempt < k.st.maxAttempts {
				if err := sleepJitter(ctx, attempt); err != nil {
					return err
				}
				stored, lerr := k.st.load(ctx, k.service, ManifestUser)
				if lerr != nil {
					return lerr
				}
				k.setManifestLocked(stored)
				continue
			}
			if err != nil {
				return err
			}
		}
		if k.ring.Manifest {
			return k.observeLocked(ctx)
		}
		newest, err := k.keyLocked(ctx, k.ring.newest().Version)
		if err != nil {
			return err
		}
		ring := &keyring{Entries: k.ring.Entries, Sealed: k.ring.Sealed, Manifest: true}
		err = k.saveLocked(ctx, ring, newest, author)
		if errors.Is(err, ErrVersionConflict) && attempt < k.st.maxAttempts {
			stored, lerr := k.st.load(ctx, k.service, ServiceKeyUser)
			if lerr != nil {
				return lerr
			}
			if err := k.setItem(stored); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		return k.observeLocked(ctx)
	}
}

// saveManifestLocked writes next, MAC'd under the newest service key, on
// the condition that the stored manifest is still the one read.
func (k *serviceKeys) saveManifestLocked(ctx context.Context, next *manifest, author string) error {
	return k.saveManifestAtLocked(ctx, next, author, 0)
}

// saveManifestAtLocked is saveManifestLocked with the new manifest's
// revision given (0: the stored one's + 1).
func (k *serviceKeys) saveManifestAtLocked(ctx context.Context, next *manifest, author string, revision int64) error {
	v := k.ring.newest().Version
	key, err := k.keyLocked(ctx, v)
	if err != nil {
		return err
	}
	prev := k.mf.item
	if prev != nil && prev.Current() == nil {
		// Damaged beyond decoding and not in force: replace it.
		d, ok := k.st.backend.(Discarder)
		if !ok {
			return fmt.Errorf("the rollback manifest of %s is damaged and this backend cannot remove it", k.service)
		}
		if err := d.Discard(ctx, k.service, ManifestUser); err != nil {
			return fmt.Errorf("removing the damaged rollback manifest of %s: %w", k.service, err)
		}
		prev = nil
	}
	next.KeyVersion = v
	if revision == 0 {
		revision = prev.Version() + 1
	}
	rec := &Record{Format: FormatManifest, Version: revision, Created: k.st.clock().UTC(), Author: author}
	if err := next.seal(k.service, rec, key); err != nil {
		return err
	}
	item := &Item{Service: k.service, User: ManifestUser, Records: []*Record{rec}}
	if _, err := k.st.backend.Save(ctx, prev, item); err != nil && !k.st.landedAnyway(ctx, k.service, ManifestUser, rec, err) {
		return fmt.Errorf("writing the rollback manifest of %s: %w", k.service, err)
	}
	k.mf = manifestState{item: item, m: next, verified: true}
	k.observed = false
	return nil
}

// scanManifest makes a new manifest listing the current version of every
// secret of service (one pass over its partition, made once per service).
func (s *Store) scanManifest(ctx context.Context, service string) (*manifest, error) {
	m := &manifest{}
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		if IsReservedUser(it.User) || it.Current() == nil {
			return nil
		}
		m.set(manEntry{Hash: hashUser(it.User), Version: it.Version()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s for its rollback manifest: %w", service, err)
	}
	return m, nil
}

// noteWrites records versions written into the manifest. The writes have
// landed: a failure here is a notice, not an error, since the manifest
// lagging behind the table is safe (reads only refuse what is older than it).
func (s *Store) noteWrites(ctx context.Context, keys *serviceKeys, service, author string, written map[string]int64) {
	if len(written) == 0 {
		return
	}
	entries := make([]manEntry, 0, len(written))
	for u, v := range written {
		entries = append(entries, manEntry{Hash: hashUser(u), Version: v})
	}
	if err := keys.note(ctx, author, entries); err != nil {
		s.notice(NoticeManifest, service, "", "the rollback manifest of %s was not brought up to date (the next write will): %v", service, err)
	}
}

// pairedManifest returns the manifest item that records user at version,
// to be written in one step with the secret, when the service's manifest is
// in force and needs the change; nil otherwise (the write then goes alone,
// and note brings the manifest up to date after it).
func (k *serviceKeys) pairedManifest(ctx context.Context, author, user string, version int64) (prev, next *Item, m *manifest, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur, err := k.enforcedLocked(ctx)
	if err != nil || cur == nil {
		return nil, nil, nil, err
	}
	m = cur.clone()
	if changed, _ := m.set(manEntry{Hash: hashUser(user), Version: version}); !changed {
		return nil, nil, nil, nil
	}
	v := k.ring.newest().Version
	key, err := k.keyLocked(ctx, v)
	if err != nil {
		return nil, nil, nil, err
	}
	m.KeyVersion = v
	rec := &Record{Format: FormatManifest, Version: k.mf.item.Version() + 1, Created: k.st.clock().UTC(), Author: author}
	if err := m.seal(k.service, rec, key); err != nil {
		return nil, nil, nil, err
	}
	return k.mf.item, &Item{Service: k.service, User: ManifestUser, Records: []*Record{rec}}, m, nil
}

// adoptManifest records that item (holding m) was written.
func (k *serviceKeys) adoptManifest(item *Item, m *manifest) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mf = manifestState{item: item, m: m, verified: true}
	k.observed = false
}

// moveManifest seals the service's rollback manifest again under the target
// version (its content, versions only, does not change), so that no old
// version is needed to read the service. Like any manifest update after a
// write, a failure is a notice: the next write of the service redoes it.
func (s *Store) moveManifest(ctx context.Context, k *serviceKeys, target int64, author string) {
	for attempt := 1; ; attempt++ {
		err := s.reloadManifest(ctx, k, k.service)
		if err == nil {
			err = func() error {
				k.mu.Lock()
				defer k.mu.Unlock()
				if k.mf.item == nil || (k.mf.m != nil && k.mf.m.KeyVersion == target) {
					return nil
				}
				if err := k.verifyManifestLocked(ctx); err != nil {
					return err
				}
				return k.saveManifestLocked(ctx, k.mf.m.clone(), author)
			}()
		}
		if errors.Is(err, ErrVersionConflict) && attempt < s.maxAttempts && sleepJitter(ctx, attempt) == nil {
			continue
		}
		if err != nil {
			s.notice(NoticeManifest, k.service, "", "the rollback manifest of %s is still sealed under an older service key version (the next write moves it): %v", k.service, err)
		}
		return
	}
}
