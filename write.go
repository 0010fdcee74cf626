package cloudchain

import (
	"context"
	"errors"
	"fmt"
)

// change is what one write puts as the new version.
type change struct {
	plaintext []byte
	tombstone bool
	// comment replaces the caller's comment when the caller gave none.
	comment string
}

// errUnchanged tells writeRecord that there is nothing to write.
var errUnchanged = errors.New("unchanged")

// Put stores value as a new version of (service, user) and returns the new
// version number. It costs one backend round trip to read the secret and its
// service's key ring, one key-provider call to unwrap the service key, and one
// conditional write. The first put into a service also creates its key ring
// (one more key-provider call and one conditional create).
func (s *Store) Put(ctx context.Context, service, user string, value []byte, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	cfg, err := putConfigOf(opts)
	if err != nil {
		return 0, err
	}
	if len(value) > MaxSecretSize {
		return 0, fmt.Errorf("%w: the secret is %d bytes, the limit is %d", ErrTooLarge, len(value), MaxSecretSize)
	}
	if s.legacyWrites && len(value) > MaxLegacySecret {
		return 0, fmt.Errorf("%w: the legacy format holds at most %d bytes, this secret has %d", ErrTooLarge, MaxLegacySecret, len(value))
	}
	return s.writeRecord(ctx, service, user, &cfg, func(*Item, *serviceKeys) (*change, error) {
		return &change{plaintext: value}, nil
	})
}

// writeRecord is the one read-modify-write loop behind every change. It
// reads the secret and the key ring (the author lookup runs meanwhile),
// checks IfVersion before any key-provider call, asks content for the new
// version given the current item (nil if there is none), seals it under the
// service key and writes it on the condition that the stored item is still
// the one read. On a conflict it re-reads and retries, unless cfg asks for a
// check-and-set.
func (s *Store) writeRecord(ctx context.Context, service, user string, cfg *putConfig, content func(cur *Item, keys *serviceKeys) (*change, error)) (int64, error) {
	authorCh := make(chan string, 1)
	go func() { authorCh <- s.lookupAuthor(ctx) }()
	cur, keys, err := s.loadRow(ctx, service, user)
	author := <-authorCh
	if err != nil {
		return 0, err
	}
	defer keys.close()

	for attempt := 1; ; attempt++ {
		// What the change builds on: the current item, or nothing when it
		// is a purged item that a purge left behind.
		base := cur
		var rb *RollbackError
		var purged *purgedRowError
		confirmed, err := s.confirmRow(ctx, keys, service, user, cur)
		if err == nil || errors.As(err, &rb) || errors.As(err, &purged) {
			cur, base = confirmed, confirmed
		}
		if cfg.checkVersion && cur.Version() != cfg.ifVersion {
			return 0, &VersionConflictError{Service: service, User: user, Expected: cfg.ifVersion, Current: cur.Version()}
		}
		// A secret rolled back, or purged, keeps counting from the
		// newest version the manifest lists: no version number is reused.
		floor, ferr := keys.floor(ctx, user)
		if ferr != nil {
			return 0, ferr
		}
		switch {
		case errors.As(err, &purged):
			base = nil
		case errors.As(err, &rb):
			s.notice(NoticeManifest, service, user, "%v; this write replaces it", err)
		case err != nil:
			return 0, err
		}
		ch, err := content(base, keys)
		if err != nil {
			return 0, err
		}
		if err := s.checkKeyOwner(service, user, base); err != nil {
			return 0, err
		}
		rec := &Record{
			Version: max(cur.Version(), floor) + 1,
			Created: s.clock().UTC(),
			Author:  author,
			Comment: cfg.comment,
			Deleted: ch.tombstone,
		}
		if rec.Comment == "" {
			rec.Comment = ch.comment
		}
		if s.legacyWrites && !ch.tombstone {
			if err := s.sealLegacy(ctx, keys, service, rec, ch.plaintext); err != nil {
				return 0, err
			}
		} else {
			v, key, err := keys.current(ctx, author)
			if err != nil {
				return 0, err
			}
			if err := sealV2(s.rand, key, v, service, user, rec, ch.plaintext); err != nil {
				return 0, err
			}
		}
		next := s.nextItem(service, user, base, rec)
		dropped, err := s.save(ctx, keys, author, user, cur, next)
		if err == nil {
			s.noticeDropped(service, user, next, dropped)
		}
		if err == nil || (!errors.Is(err, ErrVersionConflict) && s.landedAnyway(ctx, service, user, rec, err)) {
			if again := s.landed(ctx, keys, service, user, author, rec); again != nil {
				cur = again
				continue
			}
			return rec.Version, nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			return 0, wrapRow("writing", service, user, err)
		}
		if !cfg.checkVersion {
			if err := sleepJitter(ctx, attempt); err != nil {
				return 0, err
			}
		}
		latest, lerr := s.load(ctx, service, user)
		if lerr != nil {
			return 0, lerr
		}
		if err := s.reloadManifest(ctx, keys, service); err != nil {
			return 0, err
		}
		// A conflict can be this very write: the backend applied it, the
		// response was lost, and the SDK's retry of the conditional write
		// then failed its condition. The record's random salt and nonce
		// make it unique, so finding it stored means the write landed.
		if latest.hasRecord(rec) {
			if again := s.landed(ctx, keys, service, user, author, rec); again != nil {
				cur = again
				continue
			}
			return rec.Version, nil
		}
		// With a check-and-set, a conflict on the secret is final; one on
		// the manifest alone (written in the same step, PairSaver) is
		// another writer's, and the write is tried again.
		unchanged := cur.Current() == nil && latest.Current() == nil ||
			cur.Current() != nil && latest.Version() == cur.Version() && latest.hasRecord(cur.Current())
		if cfg.checkVersion && !unchanged {
			return 0, &VersionConflictError{Service: service, User: user, Expected: cfg.ifVersion, Current: latest.Version()}
		}
		if attempt >= s.maxAttempts {
			return 0, fmt.Errorf("writing %s/%s: gave up after %d attempts, other writers kept winning: %w", service, user, attempt, ErrVersionConflict)
		}
		if latest != nil && len(latest.Records) == 0 {
			latest = nil
		}
		cur = latest
	}
}

// save writes next over cur, together with the service's manifest in one
// atomic step when the backend can (PairSaver).
func (s *Store) save(ctx context.Context, keys *serviceKeys, author, user string, cur, next *Item) (int, error) {
	ps, ok := s.backend.(PairSaver)
	if !ok {
		return s.backend.Save(ctx, cur, next)
	}
	prevMan, nextMan, m, err := keys.pairedManifest(ctx, author, user, next.Version())
	if err != nil {
		return 0, err
	}
	if nextMan == nil {
		return s.backend.Save(ctx, cur, next)
	}
	dropped, err := ps.SaveBoth(ctx, cur, next, prevMan, nextMan)
	if err == nil {
		keys.adoptManifest(nextMan, m)
	}
	return dropped, err
}

// landed records a version that landed in the service's rollback manifest.
// In one narrow race (a purge of the same secret, whose mark the write did
// not see) the new version is stored below the purge's mark and would read
// as a purged secret put back: landed then returns the stored item, and the
// caller writes the same change again above the mark.
func (s *Store) landed(ctx context.Context, keys *serviceKeys, service, user, author string, rec *Record) *Item {
	s.noteWrites(ctx, keys, service, author, map[string]int64{user: rec.Version})
	e, ok := keys.entry(user)
	if !ok || !e.Purged || e.Version < rec.Version {
		return nil
	}
	latest, err := s.load(ctx, service, user)
	if err != nil || latest.Version() != rec.Version || !latest.hasRecord(rec) {
		// Purged after it landed, as a purge that came later should.
		return nil
	}
	return latest
}

// landedAnyway resolves a write that failed for an unknown reason (a
// connection reset, a timeout after the request was sent): the write may
// have landed, and a user's retry would then make a duplicate version. It
// re-reads once and reports whether rec is stored. Failures that are known
// not to have written anything are not re-read.
func (s *Store) landedAnyway(ctx context.Context, service, user string, rec *Record, err error) bool {
	for _, known := range []error{ErrAccessDenied, ErrThrottled, ErrTooLarge, ErrNotSetUp, ErrInvalidID, ErrMalformed, ErrCorrupt, ErrLocked, ErrUnsupported} {
		if errors.Is(err, known) {
			return false
		}
	}
	if ctx.Err() != nil {
		return false
	}
	latest, lerr := s.load(ctx, service, user)
	return lerr == nil && latest.hasRecord(rec)
}

// nextItem is cur with rec as its new current record and at most
// historyDepth earlier versions.
func (s *Store) nextItem(service, user string, cur *Item, rec *Record) *Item {
	next := &Item{Service: service, User: user, Records: []*Record{rec}}
	if cur != nil {
		hist := cur.Records
		if len(hist) > s.historyDepth {
			hist = hist[:s.historyDepth]
		}
		next.Records = append(next.Records, hist...)
	}
	return next
}

func (s *Store) noticeDropped(service, user string, next *Item, dropped int) {
	if dropped <= 0 {
		return
	}
	kept := len(next.Records) - 1 - dropped
	s.notice(NoticeHistoryTrimmed, service, user, "%s/%s keeps only %d earlier versions (history depth %d): older ones were dropped to stay within the backend's item size limit", service, user, kept, s.historyDepth)
}

// checkKeyOwner refuses to write over a record that the key provider cannot
// open: after a master key was replaced, a write under the new key would
// leave versions that no single key can read.
func (s *Store) checkKeyOwner(service, user string, cur *Item) error {
	ko, ok := s.keys.(KeyOwner)
	if !ok || cur == nil {
		return nil
	}
	rec := cur.Current()
	if rec == nil || rec.KeyID == "" || (rec.Format != FormatV1 && rec.Format != FormatLegacy) {
		return nil
	}
	if ko.OwnsKey(rec.KeyID) {
		return nil
	}
	return fmt.Errorf("refusing to write %s/%s: its current version %d was encrypted under key %s, which this store's key cannot open; writing now would leave versions that no single key reads (restore the key that wrote it, or add it to decrypt_keys): %w",
		service, user, rec.Version, printableKeyID(rec.KeyID), ErrWrongKey)
}

// printableKeyID returns a key id read from the store for a message, or a
// placeholder when it holds anything but printable ASCII.
func printableKeyID(id string) string {
	if len(id) > 256 {
		return "(a key id too long to show)"
	}
	for _, c := range []byte(id) {
		if c < 0x20 || c > 0x7e {
			return "(a key id that cannot be shown)"
		}
	}
	return id
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

// hasRecord reports whether it holds a record identical to r.
func (it *Item) hasRecord(r *Record) bool {
	if it == nil {
		return false
	}
	want, _ := r.MarshalBinary()
	for _, have := range it.Records {
		if have.Version == r.Version {
			got, _ := have.MarshalBinary()
			return string(got) == string(want)
		}
	}
	return false
}

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
	if err := s.purge(ctx, keys, service, user, s.lookupAuthor(ctx)); err != nil {
		return err
	}
	return s.dropDamagedRing(ctx, service)
}

// purge removes one item, retrying on a conflict.
func (s *Store) purge(ctx context.Context, keys *serviceKeys, service, user, author string) error {
	for attempt := 1; ; attempt++ {
		it, err := s.backend.Load(ctx, service, user)
		if errors.Is(err, ErrNotFound) {
			return notFound(service, user)
		}
		if d, ok := s.backend.(Discarder); ok && errors.Is(err, ErrMalformed) {
			// A damaged item would otherwise block every write to this
			// secret for good.
			if e, listed := keys.entry(user); listed {
				if err := s.markPurged(ctx, keys, service, author, map[string]int64{user: e.Version}); err != nil {
					return err
				}
			}
			if err := d.Discard(ctx, service, user); err != nil {
				return wrapRow("purging damaged", service, user, err)
			}
			return nil
		}
		if err != nil {
			return wrapRow("reading", service, user, err)
		}
		if err := s.markPurged(ctx, keys, service, author, map[string]int64{user: it.Version()}); err != nil {
			return err
		}
		err = s.backend.Remove(ctx, it)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) || attempt >= s.maxAttempts {
			return wrapRow("purging", service, user, err)
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return err
		}
	}
}

// markPurged marks secrets purged in the service's manifest (users mapped to
// the version that is being removed), unless it says so already. It must
// succeed before anything is removed.
func (s *Store) markPurged(ctx context.Context, keys *serviceKeys, service, author string, users map[string]int64) error {
	var entries []manEntry
	for u, v := range users {
		if e, ok := keys.entry(u); ok && e.Purged && e.Version >= v {
			continue
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
