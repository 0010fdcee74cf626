package cloudchain

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// SecretValue is one secret for PutMany.
type SecretValue struct {
	User  string
	Value []byte
}

// WriteStatus says what PutMany did (or, with DryRun, would do) to a secret.
type WriteStatus string

// The values of WriteStatus.
const (
	Created   WriteStatus = "created"   // a new secret, or one that was deleted
	Updated   WriteStatus = "updated"   // a new version with another value
	Unchanged WriteStatus = "unchanged" // the current value is the same: nothing written
)

// WriteResult is the outcome of one secret of PutMany.
type WriteResult struct {
	Service string      `json:"service"`
	User    string      `json:"user"`
	Version int64       `json:"version"`
	Status  WriteStatus `json:"status"`
}

// PutMany writes many secrets of one service as new versions, and is
// idempotent: a value equal to the current one writes nothing and is
// reported Unchanged. It costs the pages of the service's partition, one
// key-provider call for the whole service (plus one per current record made
// before service keys, to compare it), and one conditional write per changed
// secret, run with bounded parallelism.
//
// Every value is checked before anything is written: an invalid name, a
// value too large, or a current version that cannot be read stops it with
// nothing written (a *BulkError names each). A write that fails part-way
// cancels the writes not yet made; the results returned alongside the error
// are exactly the writes that landed. No secret is ever half-written.
// With DryRun, nothing is written and the results say what would be.
func (s *Store) PutMany(ctx context.Context, service string, values []SecretValue, opts ...PutOption) ([]WriteResult, error) {
	cfg, err := putConfigOf(opts)
	if err != nil {
		return nil, err
	}
	if cfg.checkVersion {
		return nil, fmt.Errorf("%w: IfVersion applies to one secret; PutMany does not take it", ErrUnsupported)
	}
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var failures []*SecretError
	for _, v := range values {
		var err error
		switch {
		case ValidateID(service, v.User) != nil:
			err = ValidateID(service, v.User)
		case seen[v.User]:
			err = fmt.Errorf("%w: given more than once", ErrInvalidID)
		case len(v.Value) > MaxSecretSize:
			err = fmt.Errorf("%w: the secret is %d bytes, the limit is %d", ErrTooLarge, len(v.Value), MaxSecretSize)
		case s.legacyWrites && len(v.Value) > MaxLegacySecret:
			err = fmt.Errorf("%w: the legacy format holds at most %d bytes, this secret has %d", ErrTooLarge, MaxLegacySecret, len(v.Value))
		}
		seen[v.User] = true
		if err != nil {
			failures = append(failures, &SecretError{Service: service, User: v.User, Err: err})
		}
	}
	if err := bulkError(failures); err != nil {
		return nil, err
	}

	authorCh := make(chan string, 1)
	go func() { authorCh <- s.lookupAuthor(ctx) }()
	items, keys, err := s.items(ctx, service, true)
	author := <-authorCh
	if err != nil {
		return nil, err
	}
	defer keys.close()
	byUser := make(map[string]*Item, len(items))
	for _, it := range items {
		byUser[it.User] = it
	}

	// Plan: compare every value with the current one.
	results := make([]WriteResult, len(values))
	floors := make([]int64, len(values))
	leftovers := map[string]bool{}
	for i, v := range values {
		cur := byUser[v.User]
		if cur != nil && cur.Malformed != nil {
			failures = append(failures, &SecretError{Service: service, User: v.User, Err: fmt.Errorf("the stored item is damaged; purge it (cchain delete --purge) or restore it first: %w", cur.Malformed)})
			continue
		}
		floor, err := keys.floor(ctx, v.User)
		if err != nil {
			return nil, err
		}
		floors[i] = floor
		results[i] = WriteResult{Service: service, User: v.User, Version: max(cur.Version(), floor) + 1, Status: Created}
		if cur == nil || cur.Current().Deleted {
			continue
		}
		var purged *purgedRowError
		if errors.As(keys.checkRow(ctx, v.User, cur), &purged) {
			leftovers[v.User] = true // a purge left it behind: write afresh
			continue
		}
		results[i].Status = Updated
		if cur.Version() < floor {
			// Rolled back: a new version replaces it, even with the same value.
			continue
		}
		pt, err := s.openRecord(ctx, keys, service, v.User, cur.Current())
		if err != nil {
			failures = append(failures, &SecretError{Service: service, User: v.User, Err: fmt.Errorf("reading the current version %d: %w", cur.Version(), err)})
			continue
		}
		if subtle.ConstantTimeCompare(pt, v.Value) == 1 && (len(pt) > 0 || len(v.Value) == 0) {
			results[i] = WriteResult{Service: service, User: v.User, Version: cur.Version(), Status: Unchanged}
		}
		Zero(pt)
	}
	if err := bulkError(failures); err != nil {
		return nil, err
	}
	if cfg.dryRun {
		return results, nil
	}
	var todo []int
	for i, r := range results {
		if r.Status != Unchanged {
			if err := s.checkKeyOwner(service, r.User, byUser[r.User]); err != nil {
				return nil, err
			}
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return results, nil
	}

	// Seal every record first (the random source need not be safe for
	// concurrent use), then write them in parallel.
	nexts := make([]*Item, len(values))
	if !s.legacyWrites {
		v, key, err := keys.current(ctx, author)
		if err != nil {
			return nil, err
		}
		for _, i := range todo {
			cur := byUser[values[i].User]
			rec := &Record{Version: max(cur.Version(), floors[i]) + 1, Created: s.clock().UTC(), Author: author, Comment: cfg.comment}
			if err := sealV2(s.rand, key, v, service, values[i].User, rec, values[i].Value); err != nil {
				return nil, err
			}
			base := cur
			if leftovers[values[i].User] {
				base = nil
			}
			nexts[i] = s.nextItem(service, values[i].User, base, rec)
		}
	}
	landed := make([]bool, len(values))
	var written atomic.Int64
	// gctx, cancelled by the first failure, only stops writes from
	// starting: a write already sent goes on under ctx, so that whether it
	// landed is known and reported (a write cancelled in flight may have
	// reached the server).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for _, i := range todo {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			user := values[i].User
			cur := byUser[user]
			if nexts[i] != nil {
				dropped, err := s.backend.Save(ctx, cur, nexts[i])
				// A failure may be this very write, landed with its
				// response lost (and the SDK's retry then refused by its
				// condition): finding it stored means it landed, and
				// writing again would make a second version.
				if err == nil || s.landedAnyway(ctx, service, user, nexts[i].Current(), err) {
					s.noticeDropped(service, user, nexts[i], dropped)
					landed[i] = true
					written.Add(1)
					return nil
				}
				if !errors.Is(err, ErrVersionConflict) {
					return &SecretError{Service: service, User: user, Err: err}
				}
			}
			// Someone else wrote this secret since it was read (or the
			// store writes the legacy format): the one-secret path re-reads
			// and retries.
			wcfg := cfg
			ver, err := s.writeRecord(ctx, service, user, &wcfg, func(*Item, *serviceKeys) (*change, error) {
				return &change{plaintext: values[i].Value}, nil
			})
			if err != nil {
				return &SecretError{Service: service, User: user, Err: err}
			}
			results[i].Version = ver
			landed[i] = true
			written.Add(1)
			return nil
		})
	}
	err = g.Wait()
	direct := map[string]int64{}
	for _, i := range todo {
		if landed[i] {
			direct[values[i].User] = results[i].Version
		}
	}
	s.noteWrites(ctx, keys, service, author, direct)
	if err != nil {
		var done []WriteResult
		for i, r := range results {
			if landed[i] || r.Status == Unchanged {
				done = append(done, r)
			}
		}
		return done, fmt.Errorf("writing %s stopped after %d of %d changed secrets were written: %w", service, written.Load(), len(todo), err)
	}
	return results, nil
}
