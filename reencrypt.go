package cloudchain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// ReencryptReport says what ReencryptService did (or, with
// ReencryptDryRun, would do) to one service.
type ReencryptReport struct {
	Service string `json:"service"`
	// KeyVersion is the service key version every record is sealed under
	// afterwards (with a dry run: would be).
	KeyVersion int64 `json:"key_version"`
	// NewKey is true when the run made KeyVersion. It is false when it
	// reused a newest version that no record used yet (made by a run that
	// was interrupted before its first rewrite, or by RotateServiceKey).
	NewKey bool `json:"new_key"`
	// Secrets is how many secrets (deleted ones included) the service holds.
	Secrets int `json:"secrets"`
	// Rewritten is how many secrets were rewritten, and Records how many of
	// their records (current versions and history) were sealed again.
	Rewritten int `json:"rewritten"`
	Records   int `json:"records"`
	// Upgraded counts the records among Records that were in the legacy
	// format or made before service keys.
	Upgraded int `json:"upgraded"`
	// Conflicts counts secrets that another writer changed during the run:
	// each was read again and done again, so no write is lost.
	Conflicts int `json:"conflicts"`
	// KeptAsIs counts history records that cannot be opened any more and
	// were kept unchanged: legacy records and unauthenticated deletion
	// markers made before service keys, in a service that was upgraded.
	KeptAsIs int `json:"kept_as_is"`
	// DroppedDamaged counts earlier versions that could not be decoded; a
	// rewrite drops them, as every write does.
	DroppedDamaged int `json:"dropped_damaged"`
	// Passes is how many passes over the service it took (more than one
	// when writers that read the key ring before the rotation sealed
	// records under an older version meanwhile).
	Passes int `json:"passes"`
	// Checked is how many records the final check opened under KeyVersion
	// (zero for a dry run).
	Checked int `json:"checked"`
	// Unused lists the service key versions that no record is sealed under
	// any more. They stay in the key ring: see ReencryptService.
	Unused []int64 `json:"unused_versions"`
	DryRun bool    `json:"dry_run,omitempty"`
}

// ReencryptOption changes how ReencryptService runs.
type ReencryptOption func(*reencryptConfig)

type reencryptConfig struct {
	dryRun   bool
	progress func(done, total int)
}

// ReencryptDryRun makes ReencryptService read and open every record and
// report what it would do, writing nothing (no key ring change either).
func ReencryptDryRun() ReencryptOption { return func(c *reencryptConfig) { c.dryRun = true } }

// ReencryptProgress has fn called after each secret is done, with the
// number done so far and the total, from one goroutine at a time.
func ReencryptProgress(fn func(done, total int)) ReencryptOption {
	return func(c *reencryptConfig) { c.progress = fn }
}

// reencryptPasses bounds how often the final check may find secrets that a
// writer holding the key ring from before the rotation sealed under an
// older version meanwhile, and send them round again.
const reencryptPasses = 4

// ReencryptService seals every record of service (each secret's current
// version and its whole history) again under a new version of the service
// key, for when someone who could read the service leaves. Each record keeps
// its version number, value, author, time, comment and deletion flag;
// records in the legacy format or made before service keys are sealed in
// the current format too. Each secret is rewritten with one conditional
// write on the exact item read, so a secret is always wholly old or wholly
// new, and a writer that changes it meanwhile makes ReencryptService read it
// again and redo it: no update is lost.
//
// It makes the new version unless the newest one is not used by any record
// yet (a run that was stopped before its first rewrite, or RotateServiceKey):
// then that one is reused, so running it again after an interruption is
// safe. A run stopped after some rewrites starts over under another new
// version. Old versions stay in the key ring (Unused lists those no record
// uses): a writer that read the ring before the rotation may still seal a
// record under the previous version, and removing it would make that record
// unreadable. The final check reads the whole service again and opens every
// record under the new version; records a stale writer sealed under an older
// one meanwhile are done again.
//
// Version numbers do not change, so the rollback manifest's content does
// not either; it is sealed again under the new version at the end, so that
// reading the service needs that version alone.
//
// It costs the pages of the service's partition (twice, for the final
// check), one key-provider Decrypt per service key version in use plus a
// GenerateDataKey, one Decrypt per record made before service keys, one
// conditional write per secret with bounded parallelism, and one of the
// manifest.
func (s *Store) ReencryptService(ctx context.Context, service string, opts ...ReencryptOption) (*ReencryptReport, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	var cfg reencryptConfig
	for _, o := range opts {
		o(&cfg)
	}
	if s.legacyWrites {
		return nil, fmt.Errorf("%w: re-encrypting %s while this store writes the legacy format would make its secrets unreadable to the Python tool; turn legacy_writes off first", ErrUnsupported, service)
	}
	author := s.lookupAuthor(ctx)
	items, keys, err := s.items(ctx, service, true)
	if err != nil {
		return nil, err
	}
	defer func() { keys.close() }()
	if err := damagedItems(service, items); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: service %s has no secrets", ErrNotFound, service)
	}
	rep := &ReencryptReport{Service: service, Secrets: len(items), DryRun: cfg.dryRun}
	// Check the ring before trusting its sealed flag or extending it.
	if err := keys.verify(ctx); err != nil {
		return nil, err
	}

	// Choose the version: the newest if nothing uses it yet, else a new one.
	var target int64
	for attempt := 1; ; attempt++ {
		target, rep.NewKey = nextKeyVersion(keys, items)
		if cfg.dryRun {
			break
		}
		err = s.prepareKeyVersion(ctx, keys, target, author)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrVersionConflict) || attempt >= s.maxAttempts {
			return nil, err
		}
		// The ring changed since it was read (another rotation, or a
		// first put): read it again and decide again.
		keys.close()
		if keys, err = s.loadKeys(ctx, service); err != nil {
			return nil, err
		}
	}
	rep.KeyVersion = target
	var key []byte
	if !cfg.dryRun {
		if key, err = keys.key(ctx, target); err != nil {
			return nil, err
		}
	}

	r := &reencryptRun{st: s, service: service, keys: keys, target: target, key: key, rep: rep, cfg: &cfg,
		rand: &lockedReader{r: s.rand}, total: len(items)}
	for pass := 1; ; pass++ {
		rep.Passes = pass
		if err := r.pass(ctx, items); err != nil {
			return rep, err
		}
		if cfg.dryRun {
			rep.Unused = unusedVersions(keys, items, target, true)
			return rep, nil
		}
		// The final check: read everything again and open every record
		// under the target version.
		var stale []*Item
		if stale, err = r.check(ctx); err != nil {
			return rep, err
		}
		if len(stale) == 0 {
			r.st.moveManifest(ctx, r.keys, r.target, author)
			return rep, nil
		}
		if pass >= reencryptPasses {
			return rep, fmt.Errorf("re-encrypting %s: after %d passes, %d secrets (%s first) still hold records under older key versions, written by clients that read the key ring before the rotation; run it again", service, pass, len(stale), stale[0].User)
		}
		items = stale
	}
}

// nextKeyVersion returns the version to seal under: the newest of the ring
// if no record uses it, else the one after it (which is then new).
func nextKeyVersion(keys *serviceKeys, items []*Item) (int64, bool) {
	keys.mu.Lock()
	defer keys.mu.Unlock()
	if keys.ring == nil {
		return 1, true
	}
	newest := keys.ring.newest().Version
	for _, it := range items {
		for _, r := range it.Records {
			if r.Format == FormatV2 && r.KeyVersion >= newest {
				return newest + 1, true
			}
		}
	}
	return newest, false
}

// prepareKeyVersion makes service key version target if the ring does not
// hold it yet (creating the ring for a service that has none).
func (s *Store) prepareKeyVersion(ctx context.Context, keys *serviceKeys, target int64, author string) error {
	if !keys.exists() {
		if _, _, err := keys.current(ctx, author); err != nil {
			return err
		}
	} else if keys.newestVersion() < target {
		if _, err := keys.rotate(ctx, author); err != nil {
			return err
		}
	}
	if v := keys.newestVersion(); v != target {
		return fmt.Errorf("%w: the key ring of %s holds version %d where %d was expected", ErrVersionConflict, keys.service, v, target)
	}
	return nil
}

// newestVersion returns the newest version in the ring, 0 without a ring.
func (k *serviceKeys) newestVersion() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return 0
	}
	return k.ring.newest().Version
}

// keptAsIs reports whether rec, at index i of its item, is a history record
// that an upgraded (sealed) service can no longer open: a legacy record or
// an unauthenticated deletion marker made before service keys. Re-encryption
// keeps such records as they are.
func keptAsIs(rec *Record, i int, sealed bool) bool {
	return i > 0 && sealed && (rec.Format == FormatLegacy || (rec.Format == FormatV1 && rec.Deleted))
}

// reencryptRun is one ReencryptService call in progress.
type reencryptRun struct {
	st      *Store
	service string
	keys    *serviceKeys
	target  int64
	key     []byte
	rep     *ReencryptReport
	cfg     *reencryptConfig
	rand    io.Reader

	mu          sync.Mutex // guards rep and done
	done, total int
}

// pass rewrites items with bounded parallelism; the first failure stops it.
func (r *reencryptRun) pass(ctx context.Context, items []*Item) error {
	var written atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.st.parallel)
	for _, it := range items {
		g.Go(func() error {
			changed, err := r.item(gctx, it)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", r.service, it.User, err)
			}
			if changed {
				written.Add(1)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.done = min(r.done+1, r.total)
			if r.cfg.progress != nil {
				r.cfg.progress(r.done, r.total)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if r.cfg.dryRun {
			return fmt.Errorf("re-encryption of %s (dry run) stopped: %w; nothing was written", r.service, err)
		}
		return fmt.Errorf("re-encryption of %s stopped after %d secrets were rewritten under key version %d (each wholly; the others are unchanged): %w", r.service, written.Load(), r.target, err)
	}
	return nil
}

// item rewrites one secret under the target version, reading it again and
// redoing it whenever another writer changed it first. It reports whether
// it wrote.
func (r *reencryptRun) item(ctx context.Context, cur *Item) (bool, error) {
	s := r.st
	for attempt := 1; ; attempt++ {
		next, counts, err := r.reseal(ctx, cur)
		if err != nil || next == nil {
			return false, err
		}
		done := func(rep *ReencryptReport) {
			rep.Rewritten++
			rep.Records += counts.records
			rep.Upgraded += counts.upgraded
			rep.KeptAsIs += counts.keptAsIs
			rep.DroppedDamaged += cur.DamagedHistory
		}
		if r.cfg.dryRun {
			r.add(done)
			return false, nil
		}
		dropped, err := s.backend.Save(ctx, cur, next)
		if err == nil || (!errors.Is(err, ErrVersionConflict) && s.landedAnyway(ctx, r.service, cur.User, next.Current(), err)) {
			s.noticeDropped(r.service, cur.User, next, dropped)
			r.add(done)
			return true, nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			return false, wrapRow("writing", r.service, cur.User, err)
		}
		latest, lerr := s.load(ctx, r.service, cur.User)
		if lerr != nil {
			return false, lerr
		}
		if latest.hasRecord(next.Current()) {
			// This very write landed; its answer was lost.
			r.add(done)
			return true, nil
		}
		if latest == nil || len(latest.Records) == 0 {
			return false, nil // purged meanwhile: nothing left to re-encrypt
		}
		r.add(func(rep *ReencryptReport) { rep.Conflicts++ })
		if attempt >= s.maxAttempts {
			return false, fmt.Errorf("gave up after %d attempts, other writers kept winning: %w", attempt, ErrVersionConflict)
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return false, err
		}
		cur = latest
	}
}

func (r *reencryptRun) add(fn func(*ReencryptReport)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.rep)
}

type resealCounts struct{ records, upgraded, keptAsIs int }

// reseal returns cur with every record that is not under the target
// version sealed again under it, or nil when there is nothing to do.
func (r *reencryptRun) reseal(ctx context.Context, cur *Item) (*Item, resealCounts, error) {
	var c resealCounts
	next := &Item{Service: r.service, User: cur.User, Records: make([]*Record, 0, len(cur.Records))}
	for i, rec := range cur.Records {
		if rec.Format == FormatV2 && rec.KeyVersion == r.target {
			next.Records = append(next.Records, rec)
			continue
		}
		if keptAsIs(rec, i, r.keys.sealed()) {
			c.keptAsIs++
			next.Records = append(next.Records, rec)
			continue
		}
		pt, err := r.st.openRecord(ctx, r.keys, r.service, cur.User, rec)
		if err != nil {
			return nil, c, fmt.Errorf("opening version %d to re-encrypt it: %w", rec.Version, err)
		}
		if rec.Format != FormatV2 {
			c.upgraded++
		}
		c.records++
		if r.cfg.dryRun {
			Zero(pt)
			next.Records = append(next.Records, rec)
			continue
		}
		nr := &Record{Version: rec.Version, Created: rec.Created, Author: rec.Author, Comment: rec.Comment, Deleted: rec.Deleted}
		err = sealV2(r.rand, r.key, r.target, r.service, cur.User, nr, pt)
		Zero(pt)
		if err != nil {
			return nil, c, err
		}
		next.Records = append(next.Records, nr)
	}
	if c.records == 0 {
		return nil, c, nil
	}
	return next, c, nil
}
