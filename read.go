package cloudchain

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// loadRow returns the item of (service, user) (nil, not an error, if there
// is none) and the service's key ring, in one backend round trip where the
// backend can (BatchLoader), else in two concurrent reads.
//
// The service's rollback manifest comes in the same round trip; the caller
// checks the row against it (keys.checkRow) before trusting it.
func (s *Store) loadRow(ctx context.Context, service, user string) (*Item, *serviceKeys, error) {
	var row, ring, man *Item
	if bl, ok := s.backend.(BatchLoader); ok {
		items, err := bl.LoadBatch(ctx, service, []string{user, ServiceKeyUser, ManifestUser})
		if errors.Is(err, ErrMalformed) {
			// Say which one is damaged.
			row, ring, man, err = s.loadRowAlone(ctx, service, user)
			items = []*Item{row, ring, man}
		}
		if err != nil {
			return nil, nil, wrapRow("reading", service, user, err)
		}
		if len(items) != 3 {
			return nil, nil, fmt.Errorf("reading %s/%s: the backend returned %d items for 3 keys", service, user, len(items))
		}
		row, ring, man = items[0], items[1], items[2]
	} else {
		var err error
		if row, ring, man, err = s.loadRowAlone(ctx, service, user); err != nil {
			return nil, nil, err
		}
	}
	if row != nil && len(row.Records) == 0 {
		row = nil
	}
	keys, err := s.serviceKeysOf(service, ring)
	if err != nil {
		return nil, nil, err
	}
	keys.setManifest(man)
	return row, keys, nil
}

// loadRowAlone reads the row, the key ring and the manifest with concurrent
// Loads. A manifest too damaged to load is handed on as a Malformed item: it
// matters only if the ring says it is in force.
func (s *Store) loadRowAlone(ctx context.Context, service, user string) (row, ring, man *Item, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { row, err = s.load(gctx, service, user); return err })
	g.Go(func() (err error) { ring, err = s.load(gctx, service, ServiceKeyUser); return err })
	g.Go(func() (err error) { man, err = s.loadManifest(gctx, service); return err })
	if err := g.Wait(); err != nil {
		return nil, nil, nil, err
	}
	return row, ring, man, nil
}

// existingRow validates the names and reads the row and the key ring; a
// secret that does not exist is an error wrapping ErrNotFound. The caller
// closes the keys.
func (s *Store) existingRow(ctx context.Context, service, user string) (*Item, *serviceKeys, error) {
	if err := ValidateID(service, user); err != nil {
		return nil, nil, err
	}
	it, keys, err := s.loadRow(ctx, service, user)
	if err != nil {
		return nil, nil, err
	}
	it, err = s.confirmRow(ctx, keys, service, user, it)
	if err != nil {
		keys.close()
		return nil, nil, err
	}
	if it == nil {
		keys.close()
		return nil, nil, notFound(service, user)
	}
	return it, keys, nil
}

// load returns the item, or nil (not an error) if there is none.
func (s *Store) load(ctx context.Context, service, user string) (*Item, error) {
	it, err := s.backend.Load(ctx, service, user)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		if user == ServiceKeyUser {
			if errors.Is(err, ErrMalformed) {
				return nil, fmt.Errorf("the key ring of service %s is damaged, so none of its secrets can be read or written until it is restored from a backup (`cchain delete %s --purge` removes them all): %w", service, service, err)
			}
			return nil, fmt.Errorf("reading the key ring of %s: %w", service, err)
		}
		return nil, wrapRow("reading", service, user, err)
	}
	return it, nil
}

// Get returns the current version of (service, user). It costs one backend
// round trip (the secret and its service's key ring together) and one
// key-provider call. A deleted secret gives an error wrapping ErrDeleted;
// one that never existed, ErrNotFound.
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
	it, keys, err := s.existingRow(ctx, service, user)
	if err != nil {
		return nil, err
	}
	defer keys.close()
	rec := it.Current()
	if version != 0 {
		if rec = it.Find(version); rec == nil {
			return nil, fmt.Errorf("%w: %s/%s has no version %d (%s)", ErrNotFound, service, user, version, keptVersions(it))
		}
	}
	value, err := s.openRecord(ctx, keys, service, user, rec)
	if err != nil {
		return nil, fmt.Errorf("decrypting %s/%s version %d: %w", service, user, rec.Version, err)
	}
	if rec.Deleted {
		Zero(value)
		if version != 0 {
			return nil, fmt.Errorf("%w: version %d of %s/%s is a deletion marker", ErrDeleted, version, service, user)
		}
		return nil, fmt.Errorf("%w: %s/%s was deleted in version %d (see `cchain history`, restore with `cchain undelete`)", ErrDeleted, service, user, rec.Version)
	}
	info := keys.info(rec)
	info.Auth = authOf(rec)
	return &Secret{Service: service, User: user, Value: value, VersionInfo: info}, nil
}

// authOf says how far a record that opened without error is authenticated.
func authOf(rec *Record) Auth {
	switch {
	case rec.Format == FormatV2:
		return AuthVerified
	case rec.Format == FormatV1 && !rec.Deleted:
		return AuthVerified
	default:
		return AuthUnverified
	}
}

// openRecord authenticates rec and returns its plaintext (nil for a deletion
// marker). A FormatV2 deletion marker is authenticated like a secret; older
// deletion markers cannot be.
func (s *Store) openRecord(ctx context.Context, keys *serviceKeys, service, user string, rec *Record) ([]byte, error) {
	switch rec.Format {
	case FormatV2:
		key, err := keys.key(ctx, rec.KeyVersion)
		if err != nil {
			return nil, err
		}
		pt, err := openV2(key, service, user, rec)
		if err != nil {
			return nil, err
		}
		if rec.Deleted && len(pt) != 0 {
			Zero(pt)
			return nil, fmt.Errorf("%w: a deletion marker holds data", ErrAuthentication)
		}
		return pt, nil
	case FormatV1:
		if rec.Deleted {
			// Markers written before service keys cannot be authenticated;
			// an upgraded service has none left, so one there is forged.
			if keys.sealed() {
				return nil, fmt.Errorf("%w: an unauthenticated deletion marker in upgraded service %s", ErrAuthentication, service)
			}
			return nil, nil
		}
		return s.openV1(ctx, service, user, rec, nil)
	case FormatLegacy:
		if rec.Deleted {
			return nil, nil
		}
		return s.openLegacy(ctx, keys, service, user, rec)
	default:
		return nil, fmt.Errorf("%w: a %s record where a secret should be", ErrAuthentication, rec.Format)
	}
}

// openV1 decrypts a record made before service keys. dataKey, if not nil,
// is its already unwrapped data key.
func (s *Store) openV1(ctx context.Context, service, user string, rec *Record, dataKey []byte) ([]byte, error) {
	if dataKey == nil {
		var err error
		dataKey, err = s.keys.Decrypt(ctx, rec.KeyID, rec.WrappedKey, ServiceContext(service))
		if err != nil {
			return nil, err
		}
		defer Zero(dataKey)
	}
	return open(dataKey, service, user, rec)
}

// History returns every kept version of (service, user), newest first, each
// with its Auth: every version is authenticated (one key-provider call per
// service key version in use, plus one per record made before service
// keys), and a version that fails is marked AuthFailed rather than hidden.
func (s *Store) History(ctx context.Context, service, user string) ([]VersionInfo, error) {
	it, keys, err := s.existingRow(ctx, service, user)
	if err != nil {
		return nil, err
	}
	defer keys.close()
	if it.DamagedHistory > 0 {
		s.notice(NoticeDamagedHistory, service, user, "%s/%s: %d earlier versions are damaged and not shown; the next write drops them", service, user, it.DamagedHistory)
	}
	out := make([]VersionInfo, len(it.Records))
	for i, r := range it.Records {
		out[i] = keys.info(r)
		auth, err := s.verifyRecord(ctx, keys, service, user, r)
		if err != nil {
			return nil, fmt.Errorf("verifying %s/%s version %d: %w", service, user, r.Version, err)
		}
		out[i].Auth = auth
	}
	return out, nil
}

// verifyRecord authenticates rec without keeping its plaintext. Failures of
// authentication become AuthFailed; any other failure (access denied,
// throttling) is returned.
func (s *Store) verifyRecord(ctx context.Context, keys *serviceKeys, service, user string, r *Record) (Auth, error) {
	if r.Format == FormatLegacy || (r.Format == FormatV1 && r.Deleted) {
		if r.Format == FormatLegacy && keys.sealed() {
			return AuthFailed, nil
		}
		return AuthUnverified, nil
	}
	var pt []byte
	var err error
	if r.Format == FormatV2 {
		pt, err = s.openRecord(ctx, keys, service, user, r)
	} else {
		pt, err = s.openV1(ctx, service, user, r, nil)
	}
	Zero(pt)
	switch {
	case err == nil:
		return AuthVerified, nil
	case errors.Is(err, ErrWrongKey):
		return "", err
	case errors.Is(err, ErrAuthentication), errors.Is(err, ErrMalformed):
		return AuthFailed, nil
	}
	return "", err
}

// loadKeys reads a service's key ring alone.
func (s *Store) loadKeys(ctx context.Context, service string) (*serviceKeys, error) {
	ring, err := s.load(ctx, service, ServiceKeyUser)
	if err != nil {
		return nil, err
	}
	return s.serviceKeysOf(service, ring)
}

// confirmRow checks row, the item of user read with the manifest, against
// the manifest. The items of one batch are read in no set order, so a write
// landing between two reads can make a secret look older than the manifest
// (or missing) for a moment. Before reporting a rollback, it reads the
// manifest again and then the secret: read in that order, a secret that is
// still older than the manifest was rolled back (writers write the secret
// first, the manifest second). It returns the item it checked last.
func (s *Store) confirmRow(ctx context.Context, keys *serviceKeys, service, user string, row *Item) (*Item, error) {
	err := keys.checkRow(ctx, user, row)
	var rb *RollbackError
	if !errors.As(err, &rb) {
		return row, err
	}
	if err := s.reloadManifest(ctx, keys, service); err != nil {
		return row, err
	}
	again, lerr := s.loadItem(ctx, service, user)
	if errors.Is(lerr, ErrNotFound) {
		again, lerr = nil, nil
	}
	if lerr != nil {
		return row, wrapRow("reading", service, user, lerr)
	}
	return again, keys.checkRow(ctx, user, again)
}
