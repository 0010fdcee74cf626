// Package watermark keeps a client-side high-water mark of cloudchain
// stores: for each service, the newest state of its key ring and rollback
// manifest this machine has verified. A Store given one (see
// cloudchain.WithWatermark) refuses a service that is older than what was
// seen before: a rollback of the whole service (every item put back to an
// earlier copy, the manifest included), which no check inside the table can
// detect, as TUF clients detect a replayed snapshot.
//
// The state is a small JSON file, readable and writable by its owner only,
// updated under an exclusive lock (on systems with flock) by writing a new
// file and renaming it over the old one, so it is never seen half-written.
// It holds no secret: service names, key ring identifiers and counters.
package watermark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/lockedfile"
)

// File is a Watermark kept in a file. It is safe for concurrent use, and
// several processes may share the file.
type File struct {
	path        string
	store       string
	lockTimeout time.Duration

	mu   sync.Mutex
	seen map[string]cloudchain.ServiceState // what this process has already recorded
}

// An Option configures a File.
type Option func(*File)

// WithLockTimeout bounds the wait for another process's lock on the file
// (DefaultLockTimeout by default; 0: as long as the context allows). Past
// it, Observe fails with an error wrapping cloudchain.ErrLocked.
func WithLockTimeout(d time.Duration) Option { return func(f *File) { f.lockTimeout = d } }

// DefaultLockTimeout is the wait for another process's lock on the file.
const DefaultLockTimeout = 10 * time.Second

// maxFileSize bounds the file read; a larger one is refused.
const maxFileSize = 16 << 20

// Open returns the watermark kept in path for the store named store (any
// stable name: "dynamodb:REGION:TABLE", or the embedded store's path); one
// file can hold several stores. The file is created on the first
// observation.
func Open(path, store string, opts ...Option) *File {
	f := &File{path: path, store: store, lockTimeout: DefaultLockTimeout, seen: map[string]cloudchain.ServiceState{}}
	for _, o := range opts {
		o(f)
	}
	return f
}

var _ cloudchain.Watermark = (*File)(nil)

// RollbackError says that a service is older than this machine saw it. It
// wraps cloudchain.ErrAuthentication.
type RollbackError struct {
	Service   string
	Seen, Now cloudchain.ServiceState
	Path      string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("%v: rollback detected: service %s is older than this machine saw it (key ring revision %d, manifest revision %d; seen before: %d and %d, recorded in %s): the table was put back to an earlier copy",
		cloudchain.ErrAuthentication, e.Service, e.Now.RingVersion, e.Now.ManifestVersion, e.Seen.RingVersion, e.Seen.ManifestVersion, e.Path)
}

// Unwrap returns cloudchain.ErrAuthentication.
func (e *RollbackError) Unwrap() error { return cloudchain.ErrAuthentication }

type fileState struct {
	Version int                                           `json:"version"`
	Stores  map[string]map[string]cloudchain.ServiceState `json:"stores"`
}

// Observe implements cloudchain.Watermark.
func (f *File) Observe(ctx context.Context, service string, st cloudchain.ServiceState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.seen[service]; ok && old == st {
		return nil // nothing new since this process last recorded it
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("high-water mark: %w", err)
	}
	lctx := ctx
	if f.lockTimeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, f.lockTimeout)
		defer cancel()
	}
	unlock, err := lockedfile.Lock(lctx, f.path+".lock")
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("high-water mark: %s: waited %v for another process: %w", f.path, f.lockTimeout, cloudchain.ErrLocked)
		}
		return fmt.Errorf("high-water mark: locking %s: %w", f.path, err)
	}
	defer unlock()
	state, err := f.read()
	if err != nil {
		return err
	}
	services := state.Stores[f.store]
	if services == nil {
		services = map[string]cloudchain.ServiceState{}
		state.Stores[f.store] = services
	}
	old, ok := services[service]
	switch {
	case ok && old.Ring == st.Ring && (st.RingVersion < old.RingVersion || st.ManifestVersion < old.ManifestVersion):
		return &RollbackError{Service: service, Seen: old, Now: st, Path: f.path}
	case ok && old == st:
		f.seen[service] = st
		return nil
	}
	// A new ring (the service was made again) starts afresh; otherwise the
	// newest counts win.
	services[service] = st
	if err := f.write(state); err != nil {
		return err
	}
	f.seen[service] = st
	return nil
}

func (f *File) read() (*fileState, error) {
	state := &fileState{Version: 1, Stores: map[string]map[string]cloudchain.ServiceState{}}
	// It decides what is refused as a rollback: a file that another user
	// owns or could have written is not believed.
	b, err := lockedfile.ReadTrusted(f.path, maxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return state, nil
	}
	if errors.Is(err, lockedfile.ErrUntrusted) {
		return nil, fmt.Errorf("high-water mark: %w; it is not used: make it yours and mode 0600 (chmod 600), or move it away to start afresh, which forgets what was seen", err)
	}
	if err != nil {
		return nil, fmt.Errorf("high-water mark: %w", err)
	}
	if err := json.Unmarshal(b, state); err != nil || state.Version != 1 {
		return nil, fmt.Errorf("high-water mark: %s is damaged (move it away to start afresh, which forgets what was seen): %v", f.path, err)
	}
	if state.Stores == nil {
		state.Stores = map[string]map[string]cloudchain.ServiceState{}
	}
	return state, nil
}

func (f *File) write(state *fileState) error {
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	if err := lockedfile.WriteAtomic(f.path, append(b, '\n'), ".watermark-*"); err != nil {
		return fmt.Errorf("high-water mark: %w", err)
	}
	return nil
}
