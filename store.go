package cloudchain

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"time"
)

// DefaultHistoryDepth is how many earlier versions an item keeps besides the
// current one, unless WithHistoryDepth says otherwise.
const DefaultHistoryDepth = 10

// MaxLegacySecret is the largest secret the legacy format can hold: KMS
// Encrypt takes at most 4096 bytes of plaintext.
const MaxLegacySecret = 4096

// Store is the whole user-facing API: it seals secrets with a KeyProvider and
// keeps them in a Backend. A Store is safe for concurrent use.
type Store struct {
	backend  Backend
	keys     KeyProvider
	depth    int
	clock    func() time.Time
	rand     io.Reader
	authorFn func(context.Context) (string, error)
	legacy   bool
	noLegacy bool // refuse to read legacy records
	parallel int
	attempts int

	authorMu  sync.Mutex
	author    string
	authorSet bool
}

// Option configures a Store.
type Option func(*Store)

// WithHistoryDepth sets how many earlier versions each secret keeps besides
// the current one (default 10). Older versions are dropped first.
func WithHistoryDepth(n int) Option {
	return func(s *Store) {
		if n >= 0 {
			s.depth = n
		}
	}
}

// WithClock sets the clock that stamps new versions.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// WithRand sets the source of nonces (crypto/rand by default).
func WithRand(r io.Reader) Option { return func(s *Store) { s.rand = r } }

// WithAuthor sets the function that names the author of new versions. The
// Store calls it at most once successfully and remembers the answer; the call
// runs concurrently with the other requests of the first put.
func WithAuthor(fn func(context.Context) (string, error)) Option {
	return func(s *Store) { s.authorFn = fn }
}

// WithLegacyWrites makes puts write the legacy Python cloudchain format, so
// that fleets still running the Python client can read what cchain writes.
// The KeyProvider must implement Encrypter, and secrets are limited to
// MaxLegacySecret bytes. Legacy records are not bound to their row.
func WithLegacyWrites(on bool) Option { return func(s *Store) { s.legacy = on } }

// WithLegacyReads says whether records in the legacy format may be read
// (default true). Legacy records are not bound to their row: anyone who may
// write to the table and encrypt with the legacy context can plant one in
// any row. Once every secret has been re-saved in the current format, turn
// legacy reads off, and a legacy record fails with ErrAuthentication.
func WithLegacyReads(on bool) Option { return func(s *Store) { s.noLegacy = !on } }

// WithParallelism bounds the concurrent key-provider calls of bulk reads
// (default 8).
func WithParallelism(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.parallel = n
		}
	}
}

// New returns a Store over backend and keys.
func New(backend Backend, keys KeyProvider, opts ...Option) *Store {
	s := &Store{
		backend:  backend,
		keys:     keys,
		depth:    DefaultHistoryDepth,
		clock:    time.Now,
		rand:     rand.Reader,
		parallel: 8,
		attempts: 64,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.backend }

// Keys returns the store's key provider.
func (s *Store) Keys() KeyProvider { return s.keys }

// Close releases the backend and key provider if they hold resources.
func (s *Store) Close() error {
	var errs []error
	if c, ok := s.backend.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := s.keys.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// VersionInfo describes one version of a secret, never its value.
type VersionInfo struct {
	Version int64     `json:"version"`
	Created time.Time `json:"created,omitzero"`
	Author  string    `json:"author,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Format  string    `json:"format"`
	KeyID   string    `json:"key_id,omitempty"`
	// Size is the secret's length in bytes, or -1 when unknown (legacy).
	Size    int  `json:"size"`
	Deleted bool `json:"deleted,omitempty"`
}

func infoOf(r *Record) VersionInfo {
	return VersionInfo{
		Version: r.Version,
		Created: r.Created,
		Author:  r.Author,
		Comment: r.Comment,
		Format:  r.Format.String(),
		KeyID:   r.KeyID,
		Size:    r.Size(),
		Deleted: r.Deleted,
	}
}

// Secret is a decrypted version of a secret.
type Secret struct {
	Service string
	User    string
	// Value is the secret. Clear it with Zero when done.
	Value []byte
	VersionInfo
}

// Entry describes a secret's current version in a listing.
type Entry struct {
	Service string `json:"service"`
	User    string `json:"user"`
	VersionInfo
}

// PutOption modifies a single Put.
type PutOption func(*putConfig)

type putConfig struct {
	ifVersion    int64
	checkVersion bool
	comment      string
}

func putConfigOf(opts []PutOption) putConfig {
	var cfg putConfig
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// IfVersion makes the write conditional: it fails with a
// *VersionConflictError unless the secret's current version is n (0: the
// secret must not exist yet). Without IfVersion, a write that races another
// writer re-reads and retries, so every write lands as its own version.
func IfVersion(n int64) PutOption {
	return func(c *putConfig) { c.ifVersion, c.checkVersion = n, true }
}

// WithComment attaches a comment to the new version.
func WithComment(comment string) PutOption {
	return func(c *putConfig) { c.comment = comment }
}

// Put stores value as a new version of (service, user) and returns the new
// version number. It costs one backend read, one data key and one
// conditional write; the read and the data key run concurrently.
func (s *Store) Put(ctx context.Context, service, user string, value []byte, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	cfg := putConfigOf(opts)
	if s.legacy && len(value) > MaxLegacySecret {
		return 0, fmt.Errorf("%w: the legacy format holds at most %d bytes, this secret has %d", ErrTooLarge, MaxLegacySecret, len(value))
	}
	return s.writeRecord(ctx, service, user, &cfg, false, func(_ *Item) ([]byte, error) { return value, nil })
}

// writeRecord is the one read-modify-write loop behind every change. content
// checks the current item (nil if there is none) and returns the plaintext
// of the new version; with tombstone set the new version is a deletion
// marker and the plaintext is ignored. The loop re-reads and retries on a
// conflict unless cfg asks for a check-and-set.
func (s *Store) writeRecord(ctx context.Context, service, user string, cfg *putConfig, tombstone bool, content func(cur *Item) ([]byte, error)) (int64, error) {
	var (
		wg       sync.WaitGroup
		cur      *Item
		loadErr  error
		dk       *DataKey
		dkErr    error
		author   string
		authErr  error
		needsKey = !tombstone && !s.legacy
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cur, loadErr = s.load(ctx, service, user)
	}()
	if needsKey {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dk, dkErr = s.keys.GenerateDataKey(ctx, ServiceContext(service))
			if dkErr != nil {
				dkErr = fmt.Errorf("generating data key: %w", dkErr)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		author, authErr = s.lookupAuthor(ctx)
	}()
	wg.Wait()
	if dk != nil {
		defer Zero(dk.Plaintext)
	}
	if err := errors.Join(loadErr, dkErr, authErr); err != nil {
		return 0, err
	}

	for attempt := 1; ; attempt++ {
		if cfg.checkVersion && cur.Version() != cfg.ifVersion {
			return 0, &VersionConflictError{Service: service, User: user, Expected: cfg.ifVersion, Current: cur.Version()}
		}
		plaintext, err := content(cur)
		if err != nil {
			return 0, err
		}
		rec := &Record{
			Format:  FormatV1,
			Version: cur.Version() + 1,
			Created: s.clock().UTC(),
			Author:  author,
			Comment: cfg.comment,
		}
		switch {
		case tombstone:
			rec.Deleted = true
		case s.legacy:
			if err := s.sealLegacy(ctx, rec, plaintext); err != nil {
				return 0, err
			}
		default:
			rec.KeyID = dk.KeyID
			rec.Context = ServiceContext(service)
			rec.WrappedKey = dk.Wrapped
			if err := seal(s.rand, dk.Plaintext, service, user, rec, plaintext); err != nil {
				return 0, err
			}
		}
		next := &Item{Service: service, User: user, Records: []*Record{rec}}
		if cur != nil {
			hist := cur.Records
			if len(hist) > s.depth {
				hist = hist[:s.depth]
			}
			next.Records = append(next.Records, hist...)
		}
		var prev *Item
		if cur != nil && len(cur.Records) > 0 {
			prev = cur
		}
		_, err = s.backend.Save(ctx, prev, next)
		if err == nil {
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
		// A conflict can be this very write: the backend applied it, the
		// response was lost, and the SDK's retry of the conditional write
		// then failed its condition. The record's random nonce makes it
		// unique, so finding it stored means the write landed.
		if latest.hasRecord(rec) {
			return rec.Version, nil
		}
		if cfg.checkVersion {
			return 0, &VersionConflictError{Service: service, User: user, Expected: cfg.ifVersion, Current: latest.Version()}
		}
		if attempt >= s.attempts {
			return 0, fmt.Errorf("writing %s/%s: gave up after %d attempts, other writers kept winning: %w", service, user, attempt, ErrVersionConflict)
		}
		cur = latest
	}
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
			return bytes.Equal(got, want)
		}
	}
	return false
}

func (s *Store) sealLegacy(ctx context.Context, rec *Record, plaintext []byte) error {
	enc, ok := s.keys.(Encrypter)
	if !ok {
		return fmt.Errorf("%w: writing the legacy format needs a KMS key provider", ErrUnsupported)
	}
	ct, keyID, err := enc.Encrypt(ctx, plaintext, LegacyContext())
	if err != nil {
		return fmt.Errorf("encrypting legacy record: %w", err)
	}
	rec.Format = FormatLegacy
	rec.KeyID = keyID
	rec.Context = LegacyContext()
	rec.Ciphertext = ct
	return nil
}

// loadExisting returns the item, or an error wrapping ErrNotFound that names
// the secret once.
func (s *Store) loadExisting(ctx context.Context, service, user string) (*Item, error) {
	it, err := s.backend.Load(ctx, service, user)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(service, user)
	}
	if err != nil {
		return nil, wrapRow("reading", service, user, err)
	}
	return it, nil
}

func notFound(service, user string) error { return fmt.Errorf("%w: %s/%s", ErrNotFound, service, user) }

// wrapRow says what was being done to which secret, unless err already
// names the secret (backends' errors often do).
func wrapRow(op, service, user string, err error) error {
	if strings.Contains(err.Error(), service+"/"+user) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, service, user, err)
}

// load returns the item, or nil (not an error) if there is none.
func (s *Store) load(ctx context.Context, service, user string) (*Item, error) {
	it, err := s.backend.Load(ctx, service, user)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapRow("reading", service, user, err)
	}
	return it, nil
}

func (s *Store) lookupAuthor(ctx context.Context) (string, error) {
	if s.authorFn == nil {
		return "", nil
	}
	s.authorMu.Lock()
	defer s.authorMu.Unlock()
	if s.authorSet {
		return s.author, nil
	}
	a, err := s.authorFn(ctx)
	if err != nil {
		return "", fmt.Errorf("looking up the author of the change: %w", err)
	}
	s.author, s.authorSet = a, true
	return a, nil
}

func sleepJitter(ctx context.Context, attempt int) error {
	limit := time.Millisecond << min(attempt, 6)
	t := time.NewTimer(time.Duration(mathrand.Int64N(int64(limit))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Get returns the current version of (service, user). It costs one backend
// read and one key-provider decrypt. A deleted secret gives an error wrapping
// ErrDeleted; one that never existed, ErrNotFound.
func (s *Store) Get(ctx context.Context, service, user string) (*Secret, error) {
	return s.get(ctx, service, user, 0)
}

// GetVersion returns the given version of (service, user), if it is still in
// the history.
func (s *Store) GetVersion(ctx context.Context, service, user string, version int64) (*Secret, error) {
	if version < 1 {
		return nil, fmt.Errorf("%w: version must be 1 or more, got %d", ErrInvalidID, version)
	}
	return s.get(ctx, service, user, version)
}

func (s *Store) get(ctx context.Context, service, user string, version int64) (*Secret, error) {
	if err := ValidateID(service, user); err != nil {
		return nil, err
	}
	it, err := s.loadExisting(ctx, service, user)
	if err != nil {
		return nil, err
	}
	rec := it.Current()
	if version != 0 {
		if rec = it.Find(version); rec == nil {
			return nil, fmt.Errorf("%w: %s/%s has no version %d (%s)", ErrNotFound, service, user, version, keptVersions(it))
		}
	}
	if rec.Deleted {
		if version != 0 {
			return nil, fmt.Errorf("%w: version %d of %s/%s is a deletion marker", ErrDeleted, version, service, user)
		}
		return nil, fmt.Errorf("%w: %s/%s was deleted in version %d (see `cchain history`, restore with `cchain undelete`)", ErrDeleted, service, user, rec.Version)
	}
	value, err := s.openRecord(ctx, service, user, rec, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypting %s/%s version %d: %w", service, user, rec.Version, err)
	}
	return &Secret{Service: service, User: user, Value: value, VersionInfo: infoOf(rec)}, nil
}

func keptVersions(it *Item) string {
	if len(it.Records) == 1 {
		return fmt.Sprintf("only version %d is kept", it.Records[0].Version)
	}
	return fmt.Sprintf("versions %d to %d are kept", it.Records[len(it.Records)-1].Version, it.Records[0].Version)
}

// openRecord decrypts rec. keyCache, if not nil, returns an already
// unwrapped data key for the record (bulk reads).
func (s *Store) openRecord(ctx context.Context, service, user string, rec *Record, dataKey []byte) ([]byte, error) {
	switch rec.Format {
	case FormatLegacy:
		if s.noLegacy {
			return nil, fmt.Errorf("%w: the record is in the legacy format, which is not bound to its row, and legacy reads are off (legacy_reads = false)", ErrAuthentication)
		}
		return s.keys.Decrypt(ctx, rec.KeyID, rec.Ciphertext, LegacyContext())
	case FormatV1:
		if dataKey == nil {
			var err error
			dataKey, err = s.keys.Decrypt(ctx, rec.KeyID, rec.WrappedKey, ServiceContext(service))
			if err != nil {
				return nil, err
			}
			defer Zero(dataKey)
		}
		return open(dataKey, service, user, rec)
	default:
		return nil, fmt.Errorf("%w: unknown format %d", ErrMalformed, rec.Format)
	}
}

// History returns every kept version of (service, user), newest first,
// without decrypting anything.
func (s *Store) History(ctx context.Context, service, user string) ([]VersionInfo, error) {
	if err := ValidateID(service, user); err != nil {
		return nil, err
	}
	it, err := s.loadExisting(ctx, service, user)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, len(it.Records))
	for i, r := range it.Records {
		out[i] = infoOf(r)
	}
	return out, nil
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
	cfg := putConfigOf(opts)
	if cfg.comment == "" {
		cfg.comment = fmt.Sprintf("rollback to version %d", version)
	}
	var plaintext []byte
	defer func() { Zero(plaintext) }()
	return s.writeRecord(ctx, service, user, &cfg, false, func(cur *Item) ([]byte, error) {
		Zero(plaintext)
		if cur == nil {
			return nil, notFound(service, user)
		}
		rec := cur.Find(version)
		if rec == nil {
			return nil, fmt.Errorf("%w: %s/%s has no version %d (%s)", ErrNotFound, service, user, version, keptVersions(cur))
		}
		if rec.Deleted {
			return nil, fmt.Errorf("%w: version %d of %s/%s is a deletion marker; roll back to an earlier version", ErrDeleted, version, service, user)
		}
		var err error
		plaintext, err = s.openRecord(ctx, service, user, rec, nil)
		return plaintext, err
	})
}

// Delete marks (service, user) as deleted by writing a deletion marker as a
// new version. History is kept; Undelete or Rollback restores the secret.
func (s *Store) Delete(ctx context.Context, service, user string, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	cfg := putConfigOf(opts)
	return s.writeRecord(ctx, service, user, &cfg, true, func(cur *Item) ([]byte, error) {
		if cur == nil {
			return nil, notFound(service, user)
		}
		if cur.Current().Deleted {
			return nil, fmt.Errorf("%w: %s/%s is already deleted (version %d)", ErrDeleted, service, user, cur.Version())
		}
		return nil, nil
	})
}

// Undelete restores a deleted secret: it writes the content of the newest
// version before the deletion as a new version.
func (s *Store) Undelete(ctx context.Context, service, user string, opts ...PutOption) (int64, error) {
	if err := ValidateID(service, user); err != nil {
		return 0, err
	}
	cfg := putConfigOf(opts)
	userComment := cfg.comment
	var plaintext []byte
	defer func() { Zero(plaintext) }()
	return s.writeRecord(ctx, service, user, &cfg, false, func(cur *Item) ([]byte, error) {
		Zero(plaintext)
		if cur == nil {
			return nil, notFound(service, user)
		}
		if !cur.Current().Deleted {
			return nil, fmt.Errorf("%s/%s is not deleted (current version %d)", service, user, cur.Version())
		}
		for _, r := range cur.Records {
			if !r.Deleted {
				cfg.comment = userComment
				if cfg.comment == "" {
					cfg.comment = fmt.Sprintf("undelete: restored version %d", r.Version)
				}
				var err error
				plaintext, err = s.openRecord(ctx, service, user, r, nil)
				return plaintext, err
			}
		}
		return nil, fmt.Errorf("%w: no version of %s/%s before its deletion is kept", ErrNotFound, service, user)
	})
}

// Purge removes (service, user) and its whole history. It cannot be undone.
// An item too damaged to decode is removed too, if the backend is a
// Discarder.
func (s *Store) Purge(ctx context.Context, service, user string) error {
	if err := ValidateID(service, user); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		it, err := s.loadExisting(ctx, service, user)
		if d, ok := s.backend.(Discarder); ok && errors.Is(err, ErrMalformed) {
			// A damaged item would otherwise block every write to this
			// secret for good.
			if err := d.Discard(ctx, service, user); err != nil {
				return wrapRow("purging damaged", service, user, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		err = s.backend.Remove(ctx, it)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) || attempt >= s.attempts {
			return wrapRow("purging", service, user, err)
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return err
		}
	}
}

// Services returns the names of all services, sorted.
func (s *Store) Services(ctx context.Context) ([]string, error) {
	var out []string
	err := s.backend.Services(ctx, func(svc string) error {
		out = append(out, svc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	return out, nil
}

// List returns the current version of every secret of service, sorted by
// user, deleted ones included (marked Deleted).
func (s *Store) List(ctx context.Context, service string) ([]Entry, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	var out []Entry
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		if rec := it.Current(); rec != nil {
			out = append(out, Entry{Service: service, User: it.User, VersionInfo: infoOf(rec)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", service, err)
	}
	return out, nil
}

// DeleteService soft-deletes every secret of service that is not deleted
// already, and returns how many it deleted.
func (s *Store) DeleteService(ctx context.Context, service string, opts ...PutOption) (int, error) {
	entries, err := s.List(ctx, service)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Deleted {
			continue
		}
		_, err := s.Delete(ctx, service, e.User, opts...)
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrDeleted), errors.Is(err, ErrNotFound):
			// Deleted or purged by someone else meanwhile.
		default:
			return n, err
		}
	}
	return n, nil
}

// PurgeService removes every secret of service with its history, and
// returns how many it removed.
func (s *Store) PurgeService(ctx context.Context, service string) (int, error) {
	entries, err := s.List(ctx, service)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		err := s.Purge(ctx, service, e.User)
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrNotFound):
			// Purged by someone else meanwhile.
		default:
			return n, err
		}
	}
	return n, nil
}

// GetService decrypts the current version of every live secret of service,
// sorted by user. It costs one pass over the service's items and one
// key-provider decrypt per distinct wrapped key, run in parallel up to the
// store's bound.
func (s *Store) GetService(ctx context.Context, service string) ([]*Secret, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	var recs []*Record
	var users []string
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		if rec := it.Current(); rec != nil && !rec.Deleted {
			recs = append(recs, rec)
			users = append(users, it.User)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", service, err)
	}

	// Unwrap each distinct data key once.
	type unwrapped struct {
		once sync.Once
		key  []byte
		err  error
	}
	keys := map[string]*unwrapped{}
	for _, r := range recs {
		if r.Format == FormatV1 {
			id := r.KeyID + "\x00" + string(r.WrappedKey)
			if keys[id] == nil {
				keys[id] = &unwrapped{}
			}
		}
	}
	defer func() {
		for _, u := range keys {
			Zero(u.key)
		}
	}()

	out := make([]*Secret, len(recs))
	errs := make([]error, len(recs))
	sem := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var dataKey []byte
			if r.Format == FormatV1 {
				u := keys[r.KeyID+"\x00"+string(r.WrappedKey)]
				u.once.Do(func() {
					u.key, u.err = s.keys.Decrypt(ctx, r.KeyID, r.WrappedKey, ServiceContext(service))
				})
				if u.err != nil {
					errs[i] = fmt.Errorf("decrypting %s/%s version %d: %w", service, users[i], r.Version, u.err)
					return
				}
				dataKey = u.key
			}
			v, err := s.openRecord(ctx, service, users[i], r, dataKey)
			if err != nil {
				errs[i] = fmt.Errorf("decrypting %s/%s version %d: %w", service, users[i], r.Version, err)
				return
			}
			out[i] = &Secret{Service: service, User: users[i], Value: v, VersionInfo: infoOf(r)}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, sec := range out {
			if sec != nil {
				Zero(sec.Value)
			}
		}
		return nil, err
	}
	return out, nil
}

// SaveCreds stores secret for (service, user), as the Python tool's
// savecreds did, and returns nothing but an error.
func (s *Store) SaveCreds(ctx context.Context, service, user, secret string) error {
	_, err := s.Put(ctx, service, user, []byte(secret))
	return err
}

// ReadCreds returns the current secret of (service, user) as a string, as
// the Python tool's readcreds did.
func (s *Store) ReadCreds(ctx context.Context, service, user string) (string, error) {
	sec, err := s.Get(ctx, service, user)
	if err != nil {
		return "", err
	}
	v := string(sec.Value)
	Zero(sec.Value)
	return v, nil
}
