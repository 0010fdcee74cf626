package cloudchain_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// reencryptBackends are the backends the re-encryption tests run on.
var reencryptBackends = []struct {
	name string
	open func(t *testing.T) cloudchain.Backend
}{
	{"memory", func(*testing.T) cloudchain.Backend { return memory.New() }},
	{"bolt", func(t *testing.T) cloudchain.Backend {
		b, err := bolt.Open(filepath.Join(t.TempDir(), "secrets.db"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
}

// version is everything a reader sees of one kept version.
type version struct {
	cloudchain.VersionInfo
	Value string
}

// snapshot reads every kept version of every secret of service, values
// included, and fails on any version that does not authenticate.
func snapshot(t *testing.T, st *cloudchain.Store, service string) map[string][]version {
	t.Helper()
	ctx := context.Background()
	entries, err := st.List(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]version{}
	for _, e := range entries {
		hist, err := st.History(ctx, service, e.User)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if h.Auth == cloudchain.AuthFailed {
				t.Fatalf("%s/%s version %d fails authentication", service, e.User, h.Version)
			}
			v := version{VersionInfo: h}
			if !h.Deleted {
				sec, err := st.GetVersion(ctx, service, e.User, h.Version)
				if err != nil {
					t.Fatalf("%s/%s version %d: %v", service, e.User, h.Version, err)
				}
				v.Value = string(sec.Value)
			}
			out[e.User] = append(out[e.User], v)
		}
	}
	return out
}

// sameContent compares two snapshots on everything but how the records are
// sealed (format, service key version, key id, authentication level).
func sameContent(t *testing.T, got, want map[string][]version) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d secrets, want %d", len(got), len(want))
	}
	for user, wv := range want {
		gv := got[user]
		if len(gv) != len(wv) {
			t.Fatalf("%s: %d versions, want %d", user, len(gv), len(wv))
		}
		for i := range wv {
			g, w := gv[i], wv[i]
			if g.Version != w.Version || g.Value != w.Value || !g.Created.Equal(w.Created) || g.Author != w.Author ||
				g.Comment != w.Comment || g.Deleted != w.Deleted || (w.Size >= 0 && g.Size != w.Size) {
				t.Fatalf("%s version %d changed:\n got %+v\nwant %+v", user, w.Version, g, w)
			}
		}
	}
}

// allUnder fails unless every kept version of service is a v2 record under
// service key version kv.
func allUnder(t *testing.T, snap map[string][]version, kv int64) {
	t.Helper()
	for user, vs := range snap {
		for _, v := range vs {
			if v.Format != "v2" || v.ServiceKey != kv || v.Auth != cloudchain.AuthVerified {
				t.Fatalf("%s version %d: format %s, service key %d, auth %s; want v2 under %d, verified", user, v.Version, v.Format, v.ServiceKey, v.Auth, kv)
			}
		}
	}
}

// newTestStore is a Store with a clock that ticks a second per call and a
// fixed author, so that every version has its own time.
func newTestStore(b cloudchain.Backend, keys cloudchain.KeyProvider, opts ...cloudchain.Option) *cloudchain.Store {
	var tick atomic.Int64
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	opts = append([]cloudchain.Option{
		cloudchain.WithHistoryDepth(20),
		cloudchain.WithClock(func() time.Time { return start.Add(time.Duration(tick.Add(1)) * time.Second) }),
		cloudchain.WithAuthor(func(context.Context) (string, error) { return "alice@example", nil }),
	}, opts...)
	return cloudchain.New(b, keys, opts...)
}

// fill writes users u00.. with three versions each (the last with a
// comment), and deletes the last user.
func fill(t *testing.T, st *cloudchain.Store, service string, users int) {
	t.Helper()
	ctx := context.Background()
	for i := range users {
		user := fmt.Sprintf("u%02d", i)
		for v := range 3 {
			var opts []cloudchain.PutOption
			if v == 2 {
				opts = append(opts, cloudchain.WithComment("third of "+user))
			}
			if _, err := st.Put(ctx, service, user, fmt.Appendf(nil, "%s-value-%d", user, v), opts...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Delete(ctx, service, fmt.Sprintf("u%02d", users-1)); err != nil {
		t.Fatal(err)
	}
}

// countingBackend counts Saves of secrets and of key rings, and can run a
// hook before the n-th Save of a secret, or fail it.
type countingBackend struct {
	cloudchain.Backend
	saves    atomic.Int64 // Saves of secrets
	ringSave atomic.Int64
	before   func(n int64, next *cloudchain.Item) error
}

func (c *countingBackend) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	switch {
	case next.User == cloudchain.ServiceKeyUser:
		c.ringSave.Add(1)
	case cloudchain.IsReservedUser(next.User):
	default:
		n := c.saves.Add(1)
		if c.before != nil {
			if err := c.before(n, next); err != nil {
				return 0, err
			}
		}
	}
	return c.Backend.Save(ctx, prev, next)
}

// TestReencryptService: every record of a service, history and deletion
// markers included, moves to a new service key version with its version,
// value, author, time, comment and deleted flag unchanged; it costs one
// GenerateDataKey and one Decrypt for the service and one write per secret,
// and the old version is reported unused. A second run makes another
// version; a run after a plain rotation reuses that rotation's version.
func TestReencryptService(t *testing.T) {
	for _, be := range reencryptBackends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			keys := testkeys.New("k")
			cb := &countingBackend{Backend: be.open(t)}
			st := newTestStore(cb, keys)
			fill(t, st, "db", 6)
			fill(t, st, "other", 2)
			before := snapshot(t, st, "db")
			otherBefore := snapshot(t, st, "other")
			g0, d0, _ := keys.Counts()
			cb.saves.Store(0)
			cb.ringSave.Store(0)

			rep, err := st.ReencryptService(ctx, "db")
			if err != nil {
				t.Fatal(err)
			}
			g1, d1, _ := keys.Counts()
			if g1-g0 != 1 || d1-d0 != 1 {
				t.Fatalf("key-provider calls: %d GenerateDataKey, %d Decrypt; want 1 and 1", g1-g0, d1-d0)
			}
			if cb.saves.Load() != 6 || cb.ringSave.Load() != 1 {
				t.Fatalf("writes: %d secrets, %d key rings; want 6 and 1", cb.saves.Load(), cb.ringSave.Load())
			}
			want := cloudchain.ReencryptReport{Service: "db", KeyVersion: 2, NewKey: true, Secrets: 6, Rewritten: 6,
				Records: 19, Checked: 19, Passes: 1, Unused: []int64{1}}
			if fmt.Sprint(*rep) != fmt.Sprint(want) {
				t.Fatalf("report\n got %+v\nwant %+v", *rep, want)
			}
			// Reading the service needs the new version alone (the rollback
			// manifest moved to it too).
			_, d2, _ := keys.Counts()
			if secrets, err := st.GetService(ctx, "db"); err != nil || len(secrets) != 5 {
				t.Fatalf("GetService after re-encryption: %d, %v", len(secrets), err)
			}
			if _, d3, _ := keys.Counts(); d3-d2 != 1 {
				t.Fatalf("reading the service after re-encryption: %d Decrypts, want 1", d3-d2)
			}
			after := snapshot(t, st, "db")
			sameContent(t, after, before)
			allUnder(t, after, 2)
			sameContent(t, snapshot(t, st, "other"), otherBefore)
			allUnder(t, snapshot(t, st, "other"), 1)
			if _, err := st.Get(ctx, "db", "u05"); !errors.Is(err, cloudchain.ErrDeleted) {
				t.Fatalf("the deleted secret after re-encryption: %v", err)
			}
			if _, err := st.Undelete(ctx, "db", "u05"); err != nil {
				t.Fatalf("undelete after re-encryption: %v", err)
			}

			// Again: version 2 is in use, so a new one.
			rep, err = st.ReencryptService(ctx, "db")
			if err != nil || rep.KeyVersion != 3 || !rep.NewKey || rep.Rewritten != 6 || !slices.Equal(rep.Unused, []int64{1, 2}) {
				t.Fatalf("second run: %+v, %v", rep, err)
			}
			// A plain rotation first: its version is reused.
			if v, err := st.RotateServiceKey(ctx, "db"); err != nil || v != 4 {
				t.Fatalf("RotateServiceKey = %d, %v", v, err)
			}
			rep, err = st.ReencryptService(ctx, "db")
			if err != nil || rep.KeyVersion != 4 || rep.NewKey {
				t.Fatalf("after a plain rotation: %+v, %v", rep, err)
			}
			allUnder(t, snapshot(t, st, "db"), 4)
		})
	}
}

// TestReencryptDryRun: a dry run opens every record, reports what a run
// would do, and writes nothing.
func TestReencryptDryRun(t *testing.T) {
	ctx := context.Background()
	cb := &countingBackend{Backend: memory.New()}
	st := newTestStore(cb, testkeys.New("k"))
	fill(t, st, "db", 4)
	cb.saves.Store(0)
	cb.ringSave.Store(0)
	rep, err := st.ReencryptService(ctx, "db", cloudchain.ReencryptDryRun())
	if err != nil {
		t.Fatal(err)
	}
	if cb.saves.Load() != 0 || cb.ringSave.Load() != 0 {
		t.Fatalf("a dry run wrote %d secrets and %d key rings", cb.saves.Load(), cb.ringSave.Load())
	}
	if !rep.DryRun || rep.KeyVersion != 2 || !rep.NewKey || rep.Rewritten != 4 || rep.Records != 13 || rep.Checked != 0 || !slices.Equal(rep.Unused, []int64{1}) {
		t.Fatalf("dry run report: %+v", rep)
	}
	allUnder(t, snapshot(t, st, "db"), 1)
}

// TestReencryptErrors: a service with no secrets, a store that writes the
// legacy format, and an invalid name.
func TestReencryptErrors(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	keys := testkeys.New("k")
	if _, err := newTestStore(b, keys).ReencryptService(ctx, "none"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("empty service: %v", err)
	}
	if _, err := newTestStore(b, keys, cloudchain.WithLegacyWrites(true)).ReencryptService(ctx, "db"); !errors.Is(err, cloudchain.ErrUnsupported) {
		t.Fatalf("legacy writes: %v", err)
	}
	if _, err := newTestStore(b, keys).ReencryptService(ctx, ""); !errors.Is(err, cloudchain.ErrInvalidID) {
		t.Fatalf("empty name: %v", err)
	}
}

// TestReencryptProgress: the progress function sees every secret once.
func TestReencryptProgress(t *testing.T) {
	st := newTestStore(memory.New(), testkeys.New("k"))
	fill(t, st, "db", 5)
	var calls []int
	_, err := st.ReencryptService(context.Background(), "db", cloudchain.ReencryptProgress(func(done, total int) {
		if total != 5 {
			t.Errorf("total %d", total)
		}
		calls = append(calls, done)
	}))
	if err != nil || !slices.Equal(calls, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("progress calls %v, %v", calls, err)
	}
}

// sealedRand is a random source for records built by hand.
var sealedRand = rand.Reader
