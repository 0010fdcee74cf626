package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudchain/cloudchain"
)

// DefaultSkip is how long a region that did not answer is tried last.
const DefaultSkip = 30 * time.Second

// An Event says that a region did not answer and that reads move on.
type Event struct {
	// Service is "dynamodb" or "kms".
	Service string
	// Region is the region that did not answer; Next is the one tried
	// next, or "" if none is left.
	Region, Next string
	// Err is the region's error.
	Err error
}

// Message is the event in one line for a user.
func (e Event) Message() string {
	next := "and no other region is left"
	if e.Next != "" {
		next = "reading from " + e.Next + " instead"
	}
	return fmt.Sprintf("%s in region %s did not answer (%s); %s", e.Service, e.Region, short(e.Err), next)
}

func short(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// An Option configures a Backend or Keys.
type Option func(*health)

// WithSkip sets how long a region that did not answer is tried only after
// the others (DefaultSkip by default; 0 never skips).
func WithSkip(d time.Duration) Option { return func(h *health) { h.skip = d } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(h *health) { h.now = now } }

// WithNotify has fn called once each time a region starts to be skipped.
func WithNotify(fn func(Event)) Option { return func(h *health) { h.notify = fn } }

// health remembers which regions did not answer recently, so that a long
// run of reads pays a dead region's timeouts once per skip period rather
// than on every call: for the life of the process, and with a state file
// (WithStateFile) for the processes that follow too.
type health struct {
	service   string
	names     []string
	endpoints []string
	skip      time.Duration
	now       func() time.Time
	notify    func(Event)
	statePath string

	mu        sync.Mutex
	downUntil []time.Time
	// fileUntil is what the state file said at the last order(); a
	// region that answers is removed from the file only if it is there.
	fileUntil []time.Time
	// stateOff is set when an update of the state file failed: it is not
	// used any more.
	stateOff bool
	// fileNoticed is, per region skipped on the state file's word, until
	// when the user was told so.
	fileNoticed []time.Time
	// pending are the state file updates of the read in progress.
	pending []stateEntry
}

func newHealth(service string, names, endpoints []string, opts []Option) *health {
	h := &health{service: service, names: names, endpoints: endpoints, skip: DefaultSkip, now: time.Now,
		downUntil: make([]time.Time, len(names)), fileUntil: make([]time.Time, len(names)), fileNoticed: make([]time.Time, len(names))}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *health) entry(i int, until time.Time) stateEntry {
	return stateEntry{Service: h.service, Region: h.names[i], Endpoint: h.endpoints[i], Until: until}
}

// loadState reads the state file into h.fileUntil, and says whether an
// entry was cut to the skip period; h.mu is held.
func (h *health) loadState(now time.Time) (capped bool) {
	clear(h.fileUntil)
	if h.statePath == "" || h.stateOff {
		return false
	}
	entries, capped := readState(h.statePath, now, h.skip)
	for _, e := range entries {
		for i := range h.names {
			if e.same(h.entry(i, time.Time{})) {
				h.fileUntil[i] = e.Until
			}
		}
	}
	return capped
}

// saveState records e in the state file, if there is one (see
// updateState); h.mu is not held. A failure turns the file off.
func (h *health) saveState(ctx context.Context, e stateEntry, now time.Time) {
	h.mu.Lock()
	off := h.statePath == "" || h.stateOff
	h.mu.Unlock()
	if off {
		return
	}
	if err := updateState(ctx, h.statePath, e, now, h.skip); err != nil {
		h.mu.Lock()
		h.stateOff = true
		clear(h.fileUntil)
		h.mu.Unlock()
	}
}

// order returns the indexes of the regions in the order to try them: the
// ones not skipped, in configured order, then the skipped ones, in
// configured order, since one of them may be back.
func (h *health) order() []int {
	h.mu.Lock()
	now := h.now()
	if h.loadState(now) {
		h.pending = append(h.pending, stateEntry{}) // write the cut times back
	}
	up := make([]int, 0, len(h.names))
	var down, fromFile []int
	for i := range h.names {
		switch {
		case now.Before(h.downUntil[i]):
			down = append(down, i)
		case now.Before(h.fileUntil[i]):
			down = append(down, i)
			fromFile = append(fromFile, i)
		default:
			up = append(up, i)
		}
	}
	// A region skipped on another process's word: say so once per skip
	// period, as for a region this process saw fail, so that a read from a
	// replica (which may lag) is never silent.
	var events []Event
	for _, i := range fromFile {
		if now.Before(h.fileNoticed[i]) {
			continue
		}
		h.fileNoticed[i] = h.fileUntil[i]
		ev := Event{Service: h.service, Region: h.names[i], Err: fmt.Errorf("another cchain process found it not answering; tried last until %s", h.fileUntil[i].UTC().Format(time.TimeOnly))}
		if len(up) > 0 {
			ev.Next = h.names[up[0]]
		}
		events = append(events, ev)
	}
	h.mu.Unlock()
	if h.notify != nil {
		for _, ev := range events {
			h.notify(ev)
		}
	}
	return append(up, down...)
}

// failed records that region i did not answer, and tells the user the
// first time in a skip period. The state file is updated by flush, once
// the read is over, so that a lock held by another process never delays
// asking the next region.
func (h *health) failed(i, next int, err error) {
	h.mu.Lock()
	now := h.now()
	fresh := !now.Before(h.downUntil[i]) || h.downUntil[i].IsZero()
	h.downUntil[i] = now.Add(h.skip)
	// Throttling is per table or account, not the region's state: other
	// processes (other tables, other profiles) are not told to skip it.
	if h.skip > 0 && !errors.Is(err, cloudchain.ErrThrottled) {
		h.pending = append(h.pending, h.entry(i, now.Add(h.skip)))
	}
	h.mu.Unlock()
	if fresh && h.notify != nil {
		ev := Event{Service: h.service, Region: h.names[i], Err: err}
		if next >= 0 {
			ev.Next = h.names[next]
		}
		h.notify(ev)
	}
}

// answered records that region i answered: it is no longer skipped, and
// is removed from the state file (by flush) if the file had it.
func (h *health) answered(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.downUntil[i] = time.Time{}
	if !h.fileUntil[i].IsZero() {
		h.pending = append(h.pending, h.entry(i, time.Time{}))
	}
	h.fileUntil[i] = time.Time{}
}

// flush writes the state file updates of the read just made. It runs after
// the answer is in hand, bounded by stateLockWait (not by the caller's
// deadline, which may have ended: what was learnt is still worth keeping).
func (h *health) flush(ctx context.Context) {
	h.mu.Lock()
	pending := h.pending
	h.pending = nil
	now := h.now()
	h.mu.Unlock()
	for _, e := range pending {
		h.saveState(context.WithoutCancel(ctx), e, now)
	}
}
