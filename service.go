package cloudchain

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

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

// items reads the current record of every secret of service, and its key
// ring. With history, items carry their kept versions too. Items that could
// not be decoded are included, with Malformed set and no records.
func (s *Store) items(ctx context.Context, service string, history bool) ([]*Item, *serviceKeys, error) {
	var ring, man *Item
	var out []*Item
	err := s.backend.Items(ctx, service, history, func(it *Item) error {
		switch {
		case it.User == ServiceKeyUser:
			ring = it
		case it.User == ManifestUser:
			man = it
		case IsReservedUser(it.User):
		case it.Current() != nil || it.Malformed != nil:
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", service, err)
	}
	keys, err := s.serviceKeysOf(service, ring)
	if err != nil {
		return nil, nil, err
	}
	keys.setManifest(man)
	return out, keys, nil
}

// List returns the current version of every secret of service, sorted by
// user, deleted ones included (marked Deleted). Every current version in the
// current format is authenticated (one key-provider call per service key
// version in use); older records are marked AuthUnverified without a
// key-provider call each (History checks them one by one).
func (s *Store) List(ctx context.Context, service string) ([]Entry, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	items, keys, err := s.items(ctx, service, false)
	if err != nil {
		return nil, err
	}
	defer keys.close()
	out := make([]Entry, 0, len(items))
	var unverifiable error
	for _, it := range items {
		if it.Malformed != nil {
			out = append(out, Entry{Service: service, User: it.User, VersionInfo: VersionInfo{Format: "damaged", Size: -1, Auth: AuthFailed}})
			continue
		}
		rec := it.Current()
		e := Entry{Service: service, User: it.User, VersionInfo: keys.info(rec)}
		e.Auth = AuthUnverified
		switch {
		case rec.Format == FormatV2 && unverifiable == nil:
			auth, err := s.verifyRecord(ctx, keys, service, it.User, rec)
			switch {
			case err == nil:
				e.Auth = auth
			case ctx.Err() != nil:
				return nil, ctx.Err()
			default:
				// The listing is still useful without the key (a reader
				// without kms:Decrypt, a lost master key): say so once.
				unverifiable = err
				s.notice(NoticeUnverified, service, "", "the listing of %s is not authenticated: %s", service, oneLine(err))
			}
		case rec.Format == FormatLegacy && keys.sealed():
			e.Auth = AuthFailed
		}
		out = append(out, e)
	}
	return out, nil
}

// ServiceError reports a service-wide operation that stopped part-way.
type ServiceError struct {
	Op      string // "delete", "purge", "undelete"
	Service string
	Done    int // secrets done before it stopped
	Total   int // secrets it set out to do
	Err     error
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("%s of service %s stopped after %d of %d secrets: %v", e.Op, e.Service, e.Done, e.Total, e.Err)
}

// Unwrap returns the error that stopped the operation.
func (e *ServiceError) Unwrap() error { return e.Err }

// forEachUser runs fn for users with bounded parallelism; the first failure
// cancels the rest. It returns how many fn calls counted as done, and a
// *ServiceError when one failed.
func (s *Store) forEachUser(ctx context.Context, op, service string, users []string, fn func(ctx context.Context, user string) (bool, error)) (int, error) {
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for _, u := range users {
		g.Go(func() error {
			ok, err := fn(gctx, u)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", service, u, err)
			}
			if ok {
				done.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	n := int(done.Load())
	if err != nil {
		return n, &ServiceError{Op: op, Service: service, Done: n, Total: len(users), Err: err}
	}
	return n, nil
}

// secretItems reads every secret item of service (current or damaged; not
// the reserved items).
func (s *Store) secretItems(ctx context.Context, service string) ([]*Item, error) {
	var items []*Item
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		if !IsReservedUser(it.User) && (it.Current() != nil || it.Malformed != nil) {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", service, err)
	}
	return items, nil
}

// usersWhere returns the users of service whose current record passes keep
// (which gets nil for an item that could not be decoded).
func (s *Store) usersWhere(ctx context.Context, service string, keep func(*Record) bool) ([]string, error) {
	var users []string
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		if !IsReservedUser(it.User) && keep(it.Current()) {
			users = append(users, it.User)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", service, err)
	}
	return users, nil
}

// DeleteService soft-deletes every secret of service that is not deleted
// already, with bounded parallelism, and returns how many it deleted. A
// failure part-way returns a *ServiceError that says how many were done.
func (s *Store) DeleteService(ctx context.Context, service string, opts ...PutOption) (int, error) {
	return s.changeService(ctx, "delete", service, opts,
		func(r *Record) bool { return r != nil && !r.Deleted },
		func(ctx context.Context, user string) error {
			_, err := s.Delete(ctx, service, user, opts...)
			return err
		},
		ErrDeleted) // deleted by someone else meanwhile
}

// UndeleteService restores every secret of service whose current version is
// a deletion marker (as a whole-service delete leaves them), and returns how
// many it restored.
func (s *Store) UndeleteService(ctx context.Context, service string, opts ...PutOption) (int, error) {
	return s.changeService(ctx, "undelete", service, opts,
		func(r *Record) bool { return r != nil && r.Deleted },
		func(ctx context.Context, user string) error {
			_, err := s.Undelete(ctx, service, user, opts...)
			return err
		},
		ErrNotDeleted) // restored by someone else meanwhile
}

// changeService runs change for every user of service whose current record
// passes keep, with bounded parallelism, and counts the ones it changed. A
// user that another writer purged meanwhile, or that fails with raced, is
// skipped.
func (s *Store) changeService(ctx context.Context, op, service string, opts []PutOption, keep func(*Record) bool, change func(context.Context, string) error, raced error) (int, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	if _, err := putConfigOf(opts); err != nil {
		return 0, err
	}
	users, err := s.usersWhere(ctx, service, keep)
	if err != nil {
		return 0, err
	}
	return s.forEachUser(ctx, op, service, users, func(ctx context.Context, user string) (bool, error) {
		err := change(ctx, user)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, raced), errors.Is(err, ErrNotFound):
			return false, nil
		}
		return false, err
	})
}

// PurgeService removes every secret of service with its history, with
// bounded parallelism, and returns how many it removed. The service's key
// ring stays: a writer racing the purge may still be sealing a secret under
// it.
func (s *Store) PurgeService(ctx context.Context, service string) (int, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	keys, err := s.loadManifestKeys(ctx, service)
	if err != nil {
		return 0, err
	}
	defer keys.close()
	items, err := s.secretItems(ctx, service)
	if err != nil {
		return 0, err
	}
	author := s.lookupAuthor(ctx)
	users := make([]string, len(items))
	versions := make(map[string]int64, len(items))
	for i, it := range items {
		users[i] = it.User
		if e, ok := keys.entry(it.User); ok && it.Current() == nil {
			versions[it.User] = e.Version // damaged: purged at what the manifest lists
		} else if it.Current() != nil {
			versions[it.User] = it.Version()
		}
	}
	// One manifest write marks them all before any is removed.
	if err := s.markPurged(ctx, keys, service, author, versions); err != nil {
		return 0, err
	}
	ringless := !keys.exists()
	var mu sync.Mutex
	removed := map[string]int64{}
	n, err := s.forEachUser(ctx, "purge", service, users, func(ctx context.Context, user string) (bool, error) {
		v, err := s.purge(ctx, keys, service, user, author)
		switch {
		case err == nil:
			mu.Lock()
			removed[user] = v
			mu.Unlock()
			return true, nil
		case errors.Is(err, ErrNotFound):
			return false, nil
		}
		return false, err
	})
	if ringless && len(removed) > 0 {
		if merr := s.markPurgedAfter(ctx, service, author, removed); merr != nil && err == nil {
			err = merr
		}
	}
	if err != nil {
		return n, err
	}
	if err := s.dropDamagedRing(ctx, service); err != nil {
		return n, err
	}
	return n, nil
}

// RotateServiceKey makes a new version of the service key of service; new
// records are sealed under it, and older versions stay for reading. It
// returns the new version.
func (s *Store) RotateServiceKey(ctx context.Context, service string) (int64, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return 0, err
	}
	defer keys.close()
	if !keys.exists() {
		users, err := s.usersWhere(ctx, service, func(*Record) bool { return true })
		if err != nil {
			return 0, err
		}
		if len(users) == 0 {
			return 0, fmt.Errorf("%w: service %s has no secrets", ErrNotFound, service)
		}
	}
	author := s.lookupAuthor(ctx)
	v, err := keys.rotate(ctx, author)
	if err != nil {
		return 0, err
	}
	// So that a put or read needs the new version alone.
	s.moveManifest(ctx, keys, v, author)
	return v, nil
}

// RewrapServiceKeys wraps every version of the service key of service again
// under the key of to (a new KMS key), in one conditional write of the key
// ring; no secret is re-encrypted. Afterwards the service's secrets read
// with a store whose key provider uses the new key, with no decrypt_keys
// entry for the old one (records older than service keys still name their
// own key: run Upgrade first). It costs one key-provider Decrypt and one
// Encrypt per service key version. It is idempotent and returns how many
// versions it re-wrapped (0 for a service without a key ring).
func (s *Store) RewrapServiceKeys(ctx context.Context, service string, to Encrypter) (int, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return 0, err
	}
	defer keys.close()
	return keys.rewrap(ctx, to, s.lookupAuthor(ctx))
}

// ServiceKeyIDs returns the key-provider key id that wraps each version of
// the service key of service, oldest first; nil for a service without a key
// ring. It makes no key-provider call.
func (s *Store) ServiceKeyIDs(ctx context.Context, service string) ([]string, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return nil, err
	}
	defer keys.close()
	keys.mu.Lock()
	defer keys.mu.Unlock()
	if keys.ring == nil {
		return nil, nil
	}
	ids := make([]string, len(keys.ring.Entries))
	for i, e := range keys.ring.Entries {
		ids[i] = e.KeyID
	}
	return ids, nil
}

// CheckServiceKeys unwraps every version of the service key of service and
// checks the key ring's MAC, writing nothing. It returns how many versions
// it opened (one key-provider Decrypt each).
func (s *Store) CheckServiceKeys(ctx context.Context, service string) (int, error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return 0, err
	}
	defer keys.close()
	keys.mu.Lock()
	defer keys.mu.Unlock()
	if keys.ring == nil {
		return 0, nil
	}
	for _, e := range keys.ring.Entries {
		if _, err := keys.keyLocked(ctx, e.Version); err != nil {
			return 0, err
		}
	}
	return len(keys.ring.Entries), nil
}
