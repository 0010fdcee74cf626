// Package memory is an in-memory cloudchain.Backend. It keeps encoded
// records, as a real backend does, so callers never share memory with it. It
// is meant for tests and for programs that want a throwaway store; it passes
// the conformance suite in backend/backendtest.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cloudchain/cloudchain"
)

// Backend is an in-memory backend. The zero value is not usable; call New.
type Backend struct {
	mu    sync.Mutex
	items map[string][][]byte // service\x00user -> encoded records, newest first
}

var _ cloudchain.Backend = (*Backend)(nil)

// New returns an empty in-memory backend.
func New() *Backend { return &Backend{items: map[string][][]byte{}} }

func key(service, user string) string { return service + "\x00" + user }

func (b *Backend) decode(service, user string, recs [][]byte, history bool) (*cloudchain.Item, error) {
	it := &cloudchain.Item{Service: service, User: user}
	if !history {
		recs = recs[:1]
	}
	for i, enc := range recs {
		r, err := cloudchain.UnmarshalRecord(enc)
		if err == nil && i > 0 && r.Version >= it.Records[len(it.Records)-1].Version {
			err = fmt.Errorf("%w: versions do not decrease", cloudchain.ErrMalformed)
		}
		if err != nil && i > 0 {
			it.DamagedHistory++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: record %d: %w", service, user, i, err)
		}
		if i == 0 {
			// Writes compare stored bytes with the re-encoded record that
			// Load returned; a non-canonical encoding could never match.
			if again, _ := r.MarshalBinary(); !bytes.Equal(again, enc) {
				return nil, fmt.Errorf("%s/%s: %w: the current record is not in canonical encoding", service, user, cloudchain.ErrMalformed)
			}
		}
		it.Records = append(it.Records, r)
	}
	return it, nil
}

// Load implements cloudchain.Backend.
func (b *Backend) Load(ctx context.Context, service, user string) (*cloudchain.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	recs, ok := b.items[key(service, user)]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", cloudchain.ErrNotFound, service, user)
	}
	return b.decode(service, user, recs, true)
}

var _ cloudchain.BatchLoader = (*Backend)(nil)

// LoadBatch implements cloudchain.BatchLoader.
func (b *Backend) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*cloudchain.Item, len(users))
	for i, u := range users {
		recs, ok := b.items[key(service, u)]
		if !ok {
			continue
		}
		it, err := b.decode(service, u, recs, true)
		if err != nil {
			return nil, err
		}
		out[i] = it
	}
	return out, nil
}

// check returns nil if the stored item is still prev: both absent, or the
// stored current record byte for byte prev's current record.
func (b *Backend) check(service, user string, prev *cloudchain.Item) error {
	var cur int64
	var raw []byte
	if recs, ok := b.items[key(service, user)]; ok {
		r, err := cloudchain.UnmarshalRecord(recs[0])
		if err != nil {
			return fmt.Errorf("%s/%s: reading the stored item: %w", service, user, err)
		}
		cur, raw = r.Version, recs[0]
	}
	want := prev.Version()
	if cur != want {
		return &cloudchain.VersionConflictError{Service: service, User: user, Expected: want, Current: cur}
	}
	if want == 0 {
		return nil
	}
	if enc, _ := prev.Records[0].MarshalBinary(); !bytes.Equal(enc, raw) {
		return fmt.Errorf("%w on %s/%s: version %d was replaced since it was read (removed and written again)", cloudchain.ErrVersionConflict, service, user, want)
	}
	return nil
}

// Save implements cloudchain.Backend.
func (b *Backend) Save(ctx context.Context, prev, next *cloudchain.Item) (dropped int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if next == nil || len(next.Records) == 0 {
		return 0, errors.New("memory backend: Save needs an item with at least one record")
	}
	var recs [][]byte
	for i, r := range next.Records {
		if r == nil || r.Version < 1 {
			return 0, fmt.Errorf("saving %s/%s: record %d is nil or has a version below 1", next.Service, next.User, i)
		}
		if i > 0 && r.Version >= next.Records[i-1].Version {
			return 0, fmt.Errorf("saving %s/%s: record versions do not strictly decrease (%d after %d)", next.Service, next.User, r.Version, next.Records[i-1].Version)
		}
		enc, err := r.MarshalBinary()
		if err != nil {
			return 0, err
		}
		recs = append(recs, enc)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(next.Service, next.User, prev); err != nil {
		return 0, err
	}
	b.items[key(next.Service, next.User)] = recs
	return 0, nil
}

// SaveBoth implements cloudchain.PairSaver: both writes under one lock.
func (b *Backend) SaveBoth(ctx context.Context, prev1, next1, prev2, next2 *cloudchain.Item) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var encoded [2][][]byte
	for i, next := range []*cloudchain.Item{next1, next2} {
		if next == nil || len(next.Records) == 0 {
			return 0, errors.New("memory backend: SaveBoth needs two items with at least one record each")
		}
		for _, r := range next.Records {
			enc, err := r.MarshalBinary()
			if err != nil {
				return 0, err
			}
			encoded[i] = append(encoded[i], enc)
		}
	}
	if next1.Service == next2.Service && next1.User == next2.User {
		return 0, errors.New("memory backend: SaveBoth of one item twice")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(next1.Service, next1.User, prev1); err != nil {
		return 0, err
	}
	if err := b.check(next2.Service, next2.User, prev2); err != nil {
		return 0, err
	}
	b.items[key(next1.Service, next1.User)] = encoded[0]
	b.items[key(next2.Service, next2.User)] = encoded[1]
	return 0, nil
}

// Remove implements cloudchain.Backend.
func (b *Backend) Remove(ctx context.Context, prev *cloudchain.Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if prev == nil {
		return errors.New("memory backend: Remove needs the item to remove")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(prev.Service, prev.User, prev); err != nil {
		return err
	}
	delete(b.items, key(prev.Service, prev.User))
	return nil
}

func (b *Backend) sortedKeys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := make([]string, 0, len(b.items))
	for k := range b.items {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Services implements cloudchain.Backend.
func (b *Backend) Services(ctx context.Context, fn func(string) error) error {
	last := ""
	for _, k := range b.sortedKeys() {
		if err := ctx.Err(); err != nil {
			return err
		}
		svc, user, _ := strings.Cut(k, "\x00")
		if svc == last || cloudchain.IsReservedUser(user) {
			continue
		}
		last = svc
		if err := fn(svc); err != nil {
			return err
		}
	}
	return nil
}

// Items implements cloudchain.Backend.
func (b *Backend) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	for _, k := range b.sortedKeys() {
		if err := ctx.Err(); err != nil {
			return err
		}
		svc, user, _ := strings.Cut(k, "\x00")
		if svc != service {
			continue
		}
		b.mu.Lock()
		recs, ok := b.items[k]
		b.mu.Unlock()
		if !ok {
			continue
		}
		it, err := b.decode(svc, user, recs, history)
		if errors.Is(err, cloudchain.ErrMalformed) {
			it, err = &cloudchain.Item{Service: svc, User: user, Malformed: err}, nil
		}
		if err != nil {
			return err
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

var _ cloudchain.Discarder = (*Backend)(nil)

// Discard implements cloudchain.Discarder.
func (b *Backend) Discard(ctx context.Context, service, user string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.items, key(service, user))
	return nil
}

// SetRaw stores records (current first) for (service, user) as they are,
// bypassing every check, for tests of damaged items.
func (b *Backend) SetRaw(service, user string, records ...[]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items[key(service, user)] = records
}

// Corrupt replaces the stored bytes of (service, user)'s current record with
// data, for tests of damaged items.
func (b *Backend) Corrupt(service, user string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if recs, ok := b.items[key(service, user)]; ok {
		recs[0] = data
	}
}
