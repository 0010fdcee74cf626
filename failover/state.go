package failover

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudchain/cloudchain/internal/lockedfile"
)

// WithStateFile has the regions that did not answer remembered in the file
// at path as well as in the process, so that the next processes (a fleet's
// program starts, cron jobs) try them last at once instead of each paying
// their retries and timeouts again, as a circuit breaker does.
//
// The file holds, per service ("dynamodb", "kms"), region and endpoint, the
// time until which that region is tried last: no secrets. It is read before
// each read's choice of region, and updated when a region does not answer
// and when a region recorded there answers again, under an exclusive lock
// (flock), by renaming a new file (mode 0600) over it. A file that another
// user owns or could write, that is damaged or too large, is ignored, and
// replaced at the next update; times more than the skip period ahead are
// cut to the skip period; entries past their time are dropped.
//
// Updates are best-effort and silent: when one fails (a read-only or full
// disk, a lock held for more than stateLockWait), the file is no longer
// used by this Backend or Keys, which then remembers regions within the
// process only, as without this option. A read never fails because of the
// file.
func WithStateFile(path string) Option { return func(h *health) { h.statePath = path } }

const (
	// stateMax bounds the file read; a bigger one is ignored.
	stateMax = 256 << 10
	// stateMaxEntries bounds the entries kept.
	stateMaxEntries = 1000
)

// stateLockWait bounds the wait for another process's update (which holds
// the lock for a read and a rename). It is spent after a read's answer is
// in hand (health.flush), never before asking a region. A variable for
// tests only.
var stateLockWait = time.Second

type stateEntry struct {
	Service  string    `json:"service"`
	Region   string    `json:"region"`
	Endpoint string    `json:"endpoint,omitempty"`
	Until    time.Time `json:"until"`
}

type stateDoc struct {
	Version int          `json:"version"`
	Skipped []stateEntry `json:"skipped"`
}

func (e stateEntry) same(o stateEntry) bool {
	return e.Service == o.Service && e.Region == o.Region && e.Endpoint == o.Endpoint
}

// readState returns the file's entries that are in force at now, each cut
// to now+skip (capped says whether one was); nothing if the file is
// missing, untrusted or damaged.
func readState(path string, now time.Time, skip time.Duration) (entries []stateEntry, capped bool) {
	b, err := lockedfile.ReadTrusted(path, stateMax)
	if err != nil {
		return nil, false
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 {
		return nil, false
	}
	out := doc.Skipped[:0]
	for _, e := range doc.Skipped {
		if !now.Before(e.Until) || e.Service == "" || e.Region == "" {
			continue
		}
		if limit := now.Add(skip); e.Until.After(limit) {
			e.Until, capped = limit, true
		}
		out = append(out, e)
	}
	if len(out) > stateMaxEntries {
		out, capped = out[:stateMaxEntries], true
	}
	return out, capped
}

// updateState sets e in the file (or removes it when e.Until is zero),
// keeping the other entries in force. With e.Service "", it only writes
// back the entries that readState cut to the skip period, so that the cut
// lasts: an entry far ahead (a clock set back, a planted file) then ends
// one skip period after the first process that saw it.
func updateState(ctx context.Context, path string, e stateEntry, now time.Time, skip time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, stateLockWait)
	defer cancel()
	unlock, err := lockedfile.Lock(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	entries, capped := readState(path, now, skip)
	n := len(entries)
	kept := slices.DeleteFunc(entries, e.same)
	if e.Until.IsZero() && len(kept) == n && !capped {
		return nil // nothing recorded for e, nothing cut
	}
	if !e.Until.IsZero() {
		kept = append(kept, e)
	}
	slices.SortFunc(kept, func(a, b stateEntry) int {
		return strings.Compare(a.Service+" "+a.Region+" "+a.Endpoint, b.Service+" "+b.Region+" "+b.Endpoint)
	})
	if len(kept) > stateMaxEntries {
		kept = kept[:stateMaxEntries]
	}
	b, err := json.MarshalIndent(stateDoc{Version: 1, Skipped: kept}, "", "  ")
	if err != nil {
		return err
	}
	return lockedfile.WriteAtomic(path, append(b, '\n'), ".regions-*")
}
