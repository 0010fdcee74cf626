package cloudchain

import (
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

// MaxSecretSize is the largest secret a Store accepts, whatever the backend.
// Backends may accept less (DynamoDB items are limited to 400 KB).
const MaxSecretSize = 8 << 20

// MaxCommentLen is the longest comment a version may carry, in bytes.
const MaxCommentLen = 1024

// Store is the whole user-facing API: it seals secrets with a KeyProvider and
// keeps them in a Backend. A Store is safe for concurrent use.
type Store struct {
	backend      Backend
	keys         KeyProvider
	historyDepth int
	clock        func() time.Time
	rand         io.Reader
	authorFn     func(context.Context) (string, error)
	legacyWrites bool
	legacyReads  bool
	parallel     int
	maxAttempts  int
	cache        *keyCache
	watermark    Watermark

	authorTimeout time.Duration
	notify        func(Notice)

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
			s.historyDepth = n
		}
	}
}

// WithClock sets the clock that stamps new versions.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// WithRand sets the source of nonces and salts (crypto/rand by default).
func WithRand(r io.Reader) Option { return func(s *Store) { s.rand = r } }

// WithAuthor sets the function that names the author of new versions. The
// Store calls it until it succeeds once and remembers the answer; each call
// runs concurrently with the first read of a write and is bounded by
// WithAuthorTimeout.
func WithAuthor(fn func(context.Context) (string, error)) Option {
	return func(s *Store) { s.authorFn = fn }
}

// WithAuthorTimeout bounds the author lookup (default 1s). The author is a
// label, not a security control: when the lookup fails or takes longer, the
// version is written with no author and a NoticeAuthorUnknown.
func WithAuthorTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.authorTimeout = d
		}
	}
}

// WithLegacyWrites makes puts write the legacy Python cloudchain format, so
// that fleets still running the Python client can read what cchain writes.
// The KeyProvider must implement Encrypter, and secrets are limited to
// MaxLegacySecret bytes. Legacy records are not bound to their row.
// Deletion markers are still written in the current format.
func WithLegacyWrites(on bool) Option { return func(s *Store) { s.legacyWrites = on } }

// WithLegacyReads says whether records in the legacy format may be read
// (default true). Legacy records are not bound to their row: anyone who may
// write to the table can copy one from any row into another. Once a service
// is upgraded (see Upgrade) its key ring refuses legacy records whatever this
// says; with legacy reads off, every legacy record fails with
// ErrAuthentication.
func WithLegacyReads(on bool) Option { return func(s *Store) { s.legacyReads = on } }

// WithParallelism bounds the concurrent key-provider calls and writes of
// bulk operations (default 8).
func WithParallelism(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.parallel = n
		}
	}
}

// WithServiceKeyCache keeps unwrapped service keys in memory for ttl, so
// that a long-lived program reading the same services again makes no
// key-provider call until ttl has passed. Each key is zeroed when it expires
// and on Close. Off by default: the CLI makes one call per service anyway.
func WithServiceKeyCache(ttl time.Duration) Option {
	return func(s *Store) {
		if ttl > 0 {
			s.cache = &keyCache{ttl: ttl}
		}
	}
}

// WithWatermark makes the Store remember, through w, the newest state of
// each service's key ring and rollback manifest it has verified, and refuse
// an older one: the client-side high-water mark that detects a rollback of a
// whole service (every item put back to an earlier copy), which the manifest
// alone cannot.
func WithWatermark(w Watermark) Option { return func(s *Store) { s.watermark = w } }

// WithNotices sets the function that receives notices (the CLI prints them
// on stderr). It may be called from several goroutines at once.
func WithNotices(fn func(Notice)) Option { return func(s *Store) { s.notify = fn } }

// New returns a Store over backend and keys.
func New(backend Backend, keys KeyProvider, opts ...Option) *Store {
	s := &Store{
		backend:       backend,
		keys:          keys,
		historyDepth:  DefaultHistoryDepth,
		clock:         time.Now,
		rand:          rand.Reader,
		legacyReads:   true,
		parallel:      8,
		maxAttempts:   64,
		authorTimeout: time.Second,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close zeroes the cached service keys and closes the backend and the key
// provider when they implement io.Closer. It does not wait for operations
// still running.
func (s *Store) Close() error {
	s.cache.clear()
	var errs []error
	if c, ok := s.backend.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := s.keys.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// NoticeKind says what a Notice is about.
type NoticeKind int

// The kinds of Notice.
const (
	// NoticeAuthorUnknown: the author lookup failed or timed out, and the
	// new version records no author.
	NoticeAuthorUnknown NoticeKind = iota + 1
	// NoticeLegacyRead: a record in the legacy format, which is not bound
	// to its row, was read.
	NoticeLegacyRead
	// NoticeHistoryTrimmed: a write kept fewer earlier versions than the
	// history depth asks for, because the backend's size limit was reached.
	NoticeHistoryTrimmed
	// NoticeDamagedHistory: earlier versions of a secret could not be
	// decoded and were left out of its history.
	NoticeDamagedHistory
	// NoticeUnverified: a listing could not be authenticated (the key was
	// not available) and is shown unverified.
	NoticeUnverified
	// NoticeManifest: a write landed, but the service's rollback manifest
	// could not be brought up to date (it will be by the next write), or is
	// full; or a write replaced a secret that had been rolled back.
	NoticeManifest
	// NoticeFailover: a region did not answer and a read went to a replica
	// region instead (package failover).
	NoticeFailover
)

// A Notice is something a user should know about an operation that
// succeeded. Its Message never holds a secret and has no control characters.
type Notice struct {
	Kind          NoticeKind
	Service, User string
	Message       string
}

func (s *Store) notice(kind NoticeKind, service, user, format string, args ...any) {
	if s.notify != nil {
		s.notify(Notice{Kind: kind, Service: service, User: user, Message: fmt.Sprintf(format, args...)})
	}
}

// lookupAuthor returns the author of new versions. It never fails: a lookup
// that errs or outlasts authorTimeout gives "" and a notice, and is tried
// again by the next write.
func (s *Store) lookupAuthor(ctx context.Context) string {
	if s.authorFn == nil {
		return ""
	}
	s.authorMu.Lock()
	defer s.authorMu.Unlock()
	if s.authorSet {
		return s.author
	}
	lctx, cancel := context.WithTimeout(ctx, s.authorTimeout)
	defer cancel()
	type answer struct {
		author string
		err    error
	}
	ch := make(chan answer, 1)
	go func() {
		a, err := s.authorFn(lctx)
		ch <- answer{a, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-lctx.Done():
		// An authorFn that ignores its context must not hold the write.
		a.err = lctx.Err()
	}
	if a.err != nil {
		if ctx.Err() == nil {
			s.notice(NoticeAuthorUnknown, "", "", "could not look up the author of the change (%s); the version records no author", oneLine(a.err))
		}
		return ""
	}
	s.author, s.authorSet = a.author, true
	return a.author
}

// oneLine flattens an error message for a notice.
func oneLine(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
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
