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
			if again := s.landed(ctx, keys, service, user, author, rec); again != nil && attempt < s.maxAttempts {
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
			if again := s.landed(ctx, keys, service, user, author, rec); again != nil && attempt < s.maxAttempts {
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
// caller writes the same change again above the mark, within its attempts
// (past them, the write landed and a concurrent purge removed it, which is
// an order the two operations could have run in).
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
// connection reset, a timeout after the request was sent, a conditional
// retry of a write whose response was lost): the write may have landed, and
// a user's retry would then make a duplicate version. It serves secrets, key
// rings and manifests alike: the random parts of each record make it unique. It
// re-reads once and reports whether rec is stored. Failures that are known
// not to have written anything are not re-read. Throttling is not one of
// them: the SDK's retries of a write that landed, its answer lost, may be
// throttled until it gives up.
func (s *Store) landedAnyway(ctx context.Context, service, user string, rec *Record, err error) bool {
	for _, known := range []error{ErrAccessDenied, ErrTooLarge, ErrNotSetUp, ErrInvalidID, ErrMalformed, ErrCorrupt, ErrLocked, ErrUnsupported} {
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
