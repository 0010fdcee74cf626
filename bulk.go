package cloudchain

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

// SecretError is the failure of one secret in a bulk operation. User is
// empty for a failure that concerns secrets that cannot be named (those
// that the service's rollback manifest lists but the table no longer holds).
type SecretError struct {
	Service, User string
	Err           error
}

func (e *SecretError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("%s: %v", e.Service, e.Err)
	}
	return fmt.Sprintf("%s/%s: %v", e.Service, e.User, e.Err)
}

// Unwrap returns the secret's error.
func (e *SecretError) Unwrap() error { return e.Err }

// BulkError collects every per-secret failure of a bulk read or write, so
// that a caller can name each one. errors.Is and errors.As see through it to
// each failure.
type BulkError struct {
	Failures []*SecretError
}

func (e *BulkError) Error() string {
	const shown = 10
	var b strings.Builder
	fmt.Fprintf(&b, "%d secrets failed: ", len(e.Failures))
	for i, f := range e.Failures {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-shown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns the failures.
func (e *BulkError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f
	}
	return out
}

func bulkError(failures []*SecretError) error {
	failures = slices.DeleteFunc(failures, func(f *SecretError) bool { return f == nil })
	if len(failures) == 0 {
		return nil
	}
	return &BulkError{Failures: failures}
}

// GetService decrypts the current version of every live secret of service,
// sorted by user. See GetServices.
func (s *Store) GetService(ctx context.Context, service string) ([]*Secret, error) {
	return s.GetServices(ctx, service)
}

// GetServices decrypts the current version of every live secret of each
// service, in the order of services and then by user. For each service it
// costs the backend's pages of the service's partition (DynamoDB: Query
// pages, without the stored history) and one key-provider call per service
// key version in use, whatever the number of secrets; records made before
// service keys cost one call each until they are re-saved.
//
// It never skips a secret silently: if any secret cannot be read or
// authenticated (deletion markers included), it returns no secrets and an
// error that is a *BulkError naming every failing secret, unless the
// failure is not a secret's (the backend is unreachable, say).
func (s *Store) GetServices(ctx context.Context, services ...string) ([]*Secret, error) {
	for _, svc := range services {
		if err := ValidateService(svc); err != nil {
			return nil, err
		}
	}
	type result struct {
		secrets  []*Secret
		failures []*SecretError
	}
	results := make([]result, len(services))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, svc := range services {
		g.Go(func() error {
			secrets, failures, err := s.readService(gctx, svc)
			results[i] = result{secrets, failures}
			return err
		})
	}
	err := g.Wait()
	var out []*Secret
	var failures []*SecretError
	for _, r := range results {
		out = append(out, r.secrets...)
		failures = append(failures, r.failures...)
	}
	if err == nil {
		err = bulkError(failures)
	}
	if err != nil {
		for _, sec := range out {
			Zero(sec.Value)
		}
		return nil, err
	}
	return out, nil
}

// readService opens every current record of one service.
func (s *Store) readService(ctx context.Context, service string) ([]*Secret, []*SecretError, error) {
	items, keys, err := s.items(ctx, service, false)
	if err != nil {
		return nil, nil, err
	}
	defer keys.close()
	checks, missing, err := keys.checkItems(ctx, items)
	if err != nil {
		return nil, nil, err
	}
	// A secret written while the pages were read can look older than the
	// manifest: confirm each alarm as a single read does.
	for i, c := range checks {
		var rb *RollbackError
		if errors.As(c, &rb) && rb.Found > 0 {
			again, err := s.confirmRow(ctx, keys, service, items[i].User, items[i])
			switch {
			case err == nil && (again == nil || len(again.Records) == 0):
				// Gone since, and the manifest agrees (purged meanwhile):
				// never return the row that failed the check.
				err = notFound(service, items[i].User)
			case again != nil && len(again.Records) > 0:
				items[i] = again
			}
			checks[i] = err
		}
	}
	secrets := make([]*Secret, len(items))
	failures := make([]*SecretError, len(items), len(items)+1)
	if err := s.confirmMissing(ctx, keys, service, missing); err != nil {
		failures = append(failures, &SecretError{Service: service, Err: err})
	}
	// Each service key version is unwrapped once, by whichever worker
	// needs it first; opening a record is then local work, so the records
	// are shared out in chunks among a few workers.
	workers := max(s.parallel, runtime.GOMAXPROCS(0))
	chunk := max(1, (len(items)+workers*4-1)/(workers*4))
	var g errgroup.Group
	g.SetLimit(workers)
	for start := 0; start < len(items); start += chunk {
		end := min(start+chunk, len(items))
		g.Go(func() error {
			for i := start; i < end; i++ {
				it := items[i]
				if it.Malformed != nil {
					failures[i] = &SecretError{Service: service, User: it.User, Err: it.Malformed}
					continue
				}
				if checks != nil && checks[i] != nil {
					if !errors.Is(checks[i], ErrNotFound) { // not a purged item left behind
						failures[i] = &SecretError{Service: service, User: it.User, Err: checks[i]}
					}
					continue
				}
				rec := it.Current()
				pt, err := s.openRecord(ctx, keys, service, it.User, rec)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					failures[i] = &SecretError{Service: service, User: it.User, Err: fmt.Errorf("version %d: %w", rec.Version, err)}
					continue
				}
				if rec.Deleted {
					continue
				}
				info := keys.info(rec)
				info.Auth = authOf(rec)
				secrets[i] = &Secret{Service: service, User: it.User, Value: pt, VersionInfo: info}
			}
			return nil
		})
	}
	err = g.Wait()
	secrets = slices.DeleteFunc(secrets, func(s *Secret) bool { return s == nil })
	if err != nil {
		for _, sec := range secrets {
			Zero(sec.Value)
		}
		return nil, nil, err
	}
	return secrets, failures, nil
}
