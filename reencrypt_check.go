package cloudchain

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
)

// check reads the whole service again and opens every record under the
// target version. It returns the secrets that still hold records under
// older versions (written meanwhile by a client with an older view of the
// key ring), and fails on a record that does not open.
func (r *reencryptRun) check(ctx context.Context) ([]*Item, error) {
	var ring *Item
	var items []*Item
	err := r.st.backend.Items(ctx, r.service, true, func(it *Item) error {
		switch {
		case it.User == ServiceKeyUser:
			ring = it
		case IsReservedUser(it.User):
		case it.Current() != nil || it.Malformed != nil:
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checking %s after re-encrypting it: %w", r.service, err)
	}
	if err := damagedItems(r.service, items); err != nil {
		return nil, err
	}
	// The ring must still have the target as its newest version, under a
	// valid MAC (checked with the key in hand: no key-provider call).
	if ring == nil || ring.Current() == nil {
		return nil, fmt.Errorf("%w: the key ring of %s disappeared during re-encryption", ErrAuthentication, r.service)
	}
	kr, err := decodeKeyring(r.service, ring.Current())
	if err != nil {
		return nil, err
	}
	if kr.newest().Version != r.target {
		return nil, fmt.Errorf("%w: the service key of %s was rotated to version %d during re-encryption; run it again", ErrVersionConflict, r.service, kr.newest().Version)
	}
	if err := kr.verify(r.service, ring.Current(), r.key); err != nil {
		return nil, err
	}
	var stale []*Item
	checked := 0
	for _, it := range items {
		old := false
		for i, rec := range it.Records {
			if rec.Format != FormatV2 || rec.KeyVersion != r.target {
				if keptAsIs(rec, i, r.keys.sealed()) {
					continue
				}
				old = true
				continue
			}
			pt, err := openV2(r.key, r.service, it.User, rec)
			if err != nil {
				return nil, fmt.Errorf("checking %s/%s version %d after re-encrypting it: %w", r.service, it.User, rec.Version, err)
			}
			if rec.Deleted && len(pt) != 0 {
				return nil, fmt.Errorf("%w: checking %s/%s version %d: a deletion marker holds data", ErrAuthentication, r.service, it.User, rec.Version)
			}
			Zero(pt)
			checked++
		}
		if old {
			stale = append(stale, it)
		}
	}
	r.add(func(rep *ReencryptReport) {
		rep.Checked = checked
		rep.Secrets = len(items)
		keys := &serviceKeys{ring: kr}
		rep.Unused = unusedVersions(keys, items, r.target, false)
		slices.Sort(rep.Unused)
	})
	return stale, nil
}

// lockedReader makes a random source safe for the parallel rewrites.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// damagedItems refuses a service with items that cannot be decoded: they
// would keep records under old versions that nobody can rewrite.
func damagedItems(service string, items []*Item) error {
	var damaged []string
	for _, it := range items {
		if it.Malformed != nil {
			damaged = append(damaged, it.User)
		}
	}
	if len(damaged) > 0 {
		return fmt.Errorf("%w: %d secrets of %s are damaged (%s first); restore or purge them, then re-encrypt", ErrMalformed, len(damaged), service, damaged[0])
	}
	return nil
}

// unusedVersions lists the ring's versions that no record of items uses.
// With planned, the records are counted as if already moved to target.
func unusedVersions(keys *serviceKeys, items []*Item, target int64, planned bool) []int64 {
	used := map[int64]bool{target: true}
	if !planned {
		for _, it := range items {
			for _, r := range it.Records {
				if r.Format == FormatV2 {
					used[r.KeyVersion] = true
				}
			}
		}
	}
	keys.mu.Lock()
	defer keys.mu.Unlock()
	out := []int64{}
	if keys.ring != nil {
		for _, e := range keys.ring.Entries {
			if !used[e.Version] {
				out = append(out, e.Version)
			}
		}
	}
	return out
}
