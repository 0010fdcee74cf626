package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/keys/local"
)

// runRotateMasterKey moves the embedded store to a new local master key
// (cchain rotate --new-master-key): every service's key ring is wrapped
// again under the new key, and no secret is re-encrypted. The steps, each
// safe to interrupt and to run again (keys/local documents the key files'
// states):
//
//  1. The new key is written, whole and synced, to master.key.next before
//     anything is wrapped under it; a run that finds one resumes with it.
//  2. Each service's ring is re-wrapped under it (one unwrap and one wrap per
//     service key version), skipping rings already there.
//  3. The new key becomes master.key, the old one kept as
//     master.key.retired-ID (local.Promote).
//  4. Every ring is checked under the new key alone; a ring still under an
//     old key (made meanwhile by a process that had loaded the old key) is
//     re-wrapped.
//  5. The store is scanned for records that carry their own data key under a
//     retired key (format v1, legacy): a retired key that nothing needs is
//     removed, one that something needs is kept, and the user is told what
//     to run.
//
// A run that finds a retired key and no master.key.next does steps 4 and 5
// only: it finishes the earlier move rather than starting another. With
// services, only those are re-wrapped (step 2) and the move stays under way.
// dryRun reports what would be done and writes nothing.
func runRotateMasterKey(ctx context.Context, a *app, cmd *cobra.Command, services []string, dryRun bool, w io.Writer) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	if cfg.Backend != config.BackendLocal {
		return usagef("--new-master-key moves the embedded store to a new local master key, but this configuration uses DynamoDB and the KMS key %s: use --kms-key KEY to move the service keys to a new KMS key", safeInline(cfg.KMSKey))
	}
	cfg.Notify = a.notices.notice
	m := &masterMove{cfg: cfg, w: w, dryRun: dryRun, path: cfg.LocalKeyPath()}
	return m.run(ctx, services)
}

// masterMove is one run of rotate --new-master-key.
type masterMove struct {
	cfg    *config.Config
	w      io.Writer
	dryRun bool
	path   string
	// calls counts key-provider operations: unwraps and wraps of the move,
	// and unwraps of the final check.
	unwraps, wraps, checks atomic.Int64
}

func (m *masterMove) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(m.w, format+"\n", args...)
	return err
}

func (m *masterMove) run(ctx context.Context, services []string) error {
	if _, err := os.Stat(m.cfg.LocalStorePath()); errors.Is(err, fs.ErrNotExist) {
		if _, kerr := os.Stat(m.path); errors.Is(kerr, fs.ErrNotExist) {
			return m.printf("nothing is stored in %s yet: there is no master key to move", m.cfg.DataDir)
		}
	}
	cur, err := local.Load(m.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &config.MissingKeyError{KeyPath: m.path, StorePath: m.cfg.LocalStorePath()}
		}
		return err
	}
	defer cur.Close()
	next, err := local.LoadNext(m.path)
	if err != nil {
		return err
	}
	retired, err := local.LoadRetired(m.path)
	if err != nil {
		return err
	}
	all := append([]*local.Provider{cur}, retired...)
	defer closeProviders(retired)
	if next == nil && len(retired) > 0 {
		if err := m.printf("an earlier move to the master key %s left the retired key %s: finishing it (no new key is made while an old one is kept)", cur.KeyID(), strings.Join(ids(retired), ", ")); err != nil {
			return err
		}
		return m.finish(ctx, cur)
	}
	if next == nil {
		if m.dryRun {
			return m.plan(ctx, nil, all, services)
		}
		var created bool
		if next, created, err = local.CreateNext(m.path); err != nil {
			return fmt.Errorf("creating the new master key: %w", err)
		}
		if !created {
			m.printf("resuming the move to the master key %s, begun by another run", next.KeyID())
		} else if err := m.printf("new master key %s written to %s", next.KeyID(), local.NextPath(m.path)); err != nil {
			return err
		}
	} else if err := m.printf("resuming the move to the master key %s (%s)", next.KeyID(), local.NextPath(m.path)); err != nil {
		return err
	}
	defer next.Close()
	if m.dryRun {
		return m.plan(ctx, next, all, services)
	}
	st, err := m.cfg.OpenWithLocalKeys(m.counted(local.NewSet(next, all...)))
	if err != nil {
		return err
	}
	defer st.Close()
	whole := len(services) == 0
	if err := m.rewrapAll(ctx, st, next, services); err != nil {
		return err
	}
	if !whole {
		return m.printf("the services named are under the new master key; run `cchain rotate --new-master-key` without SERVICE to move the others and finish")
	}
	retiredID, err := local.Promote(m.path)
	if err != nil {
		return fmt.Errorf("every key ring is under the new key, but making it the key file failed (run the command again to finish): %w", err)
	}
	if retiredID != "" {
		if err := m.printf("%s now holds the master key %s; the old key %s is kept as %s until the store is checked", m.path, next.KeyID(), retiredID, local.RetiredPath(m.path, retiredID)); err != nil {
			return err
		}
	}
	promoted, err := local.Load(m.path)
	if err != nil {
		return err
	}
	defer promoted.Close()
	return m.finish(ctx, promoted)
}

// rewrapAll re-wraps services (every service when empty) under next, and,
// for every service, goes on until the list of services stops growing: a
// service created meanwhile may be under the old key.
func (m *masterMove) rewrapAll(ctx context.Context, st *cloudchain.Store, next *local.Provider, services []string) error {
	done := map[string]bool{}
	for round := 0; ; round++ {
		todo := services
		if len(services) == 0 {
			var err error
			if todo, err = st.Services(ctx); err != nil {
				return err
			}
		}
		todo = slices.DeleteFunc(slices.Clone(todo), func(s string) bool { return done[s] })
		if len(todo) == 0 {
			return nil
		}
		if round == 3 {
			return fmt.Errorf("new services keep appearing while the master key moves (%s, ...); run the command again", safeInline(todo[0]))
		}
		for i, svc := range todo {
			n, skipped, err := m.rewrap(ctx, st, svc, next)
			if err != nil {
				return fmt.Errorf("moving %s to the new master key (services before it are done; run the command again to finish): %w", safeInline(svc), err)
			}
			what := fmt.Sprintf("%d service key versions re-wrapped", n)
			switch {
			case skipped:
				what = "already under the new key"
			case n == 0:
				what = "no key ring"
			}
			if err := m.printf("[%d/%d] %s: %s", i+1, len(todo), safeInline(svc), what); err != nil {
				return err
			}
			done[svc] = true
		}
		if len(services) > 0 {
			return nil
		}
	}
}

// rewrap re-wraps one service's ring under to unless every version of it
// already is.
func (m *masterMove) rewrap(ctx context.Context, st *cloudchain.Store, svc string, to *local.Provider) (int, bool, error) {
	if keyIDs, ok, err := ringKeyIDs(ctx, st, svc); err != nil {
		return 0, false, err
	} else if ok && !slices.ContainsFunc(keyIDs, func(id string) bool { return id != to.KeyID() }) {
		return 0, true, nil
	}
	n, err := st.RewrapServiceKeys(ctx, svc, countedEncrypter{to.Encrypter(), &m.wraps})
	return n, false, err
}

// finish checks every ring under cur alone, re-wraps any that is not
// (after a dry run, says so), and removes each retired key that nothing
// needs any more.
func (m *masterMove) finish(ctx context.Context, cur *local.Provider) error {
	retired, err := local.LoadRetired(m.path)
	if err != nil {
		return err
	}
	defer closeProviders(retired)
	st, err := m.cfg.OpenWithLocalKeys(m.counted(local.NewSet(cur, retired...)))
	if err != nil {
		return err
	}
	defer st.Close()
	ck := &countedKeys{Set: local.NewSet(cur), n: &m.checks}
	unverified := map[string]string{}
	check, err := m.cfg.OpenWithLocalKeys(ck, cloudchain.WithNotices(func(n cloudchain.Notice) {
		if n.Kind == cloudchain.NoticeUnverified {
			unverified[n.Service] = n.Message
		}
	}))
	if err != nil {
		return err
	}
	defer check.Close()
	checkRing := func(svc string) (int, error) {
		before := m.checks.Load()
		ck.takeErr()
		delete(unverified, svc)
		err := m.checkRing(ctx, check, svc)
		if msg, ok := unverified[svc]; ok && err == nil {
			if err = ck.takeErr(); err == nil {
				err = fmt.Errorf("%w: %s", cloudchain.ErrAuthentication, msg)
			}
		}
		return int(m.checks.Load() - before), err
	}
	services, err := st.Services(ctx)
	if err != nil {
		return err
	}
	var failed []string
	versions := 0
	for _, svc := range services {
		n, err := checkRing(svc)
		if errors.Is(err, cloudchain.ErrWrongKey) && len(retired) > 0 {
			// A ring made under an old key by a process that had loaded it.
			if m.dryRun {
				if err := m.printf("%s: its key ring is not under the master key yet; it would be re-wrapped", safeInline(svc)); err != nil {
					return err
				}
				continue
			}
			if _, _, err = m.rewrap(ctx, st, svc, cur); err == nil {
				n, err = checkRing(svc)
			}
		}
		if err != nil {
			failed = append(failed, svc)
			if err := m.printf("%s: its key ring does not open under the master key %s: %s", safeInline(svc), cur.KeyID(), oneLineErr(err)); err != nil {
				return err
			}
			continue
		}
		versions += n
	}
	if err := m.printf("checked %d services under the master key %s alone (%d service key versions opened): %d open, %d do not", len(services), cur.KeyID(), versions, len(services)-len(failed), len(failed)); err != nil {
		return err
	}
	if err := m.retire(ctx, retired, len(failed) > 0); err != nil {
		return err
	}
	if err := m.printf("key-provider calls: %d unwraps and %d wraps to move, %d unwraps to check", m.unwraps.Load(), m.wraps.Load(), m.checks.Load()); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: the key rings of %d services (%s first) do not open under the new master key; the old keys are kept, nothing is lost; run the command again, or restore the damaged rings", cloudchain.ErrWrongKey, len(failed), safeInline(failed[0]))
	}
	if m.dryRun {
		return m.printf("dry run: nothing was written")
	}
	return nil
}

// retire removes each retired key that no record needs, unless keep.
func (m *masterMove) retire(ctx context.Context, retired []*local.Provider, keep bool) error {
	if len(retired) == 0 {
		return nil
	}
	use, damaged, err := m.cfg.LocalKeyUse(ctx, ids(retired)...)
	if err != nil {
		return fmt.Errorf("scanning the store for records under the retired keys (they are kept): %w", err)
	}
	for _, p := range retired {
		id, path := p.KeyID(), local.RetiredPath(m.path, p.KeyID())
		u := use[id]
		switch {
		case u.Current > 0:
			err = m.printf("kept the retired key %s (%s): %d current and %d earlier versions of secrets in %s carry their own data key under it.\nhint: run `cchain upgrade` to re-save the current ones under service keys, then `cchain rotate --new-master-key` again to remove it", id, path, u.Current, u.History, safeInline(strings.Join(u.Services, ", ")))
		case u.History > 0:
			err = m.printf("kept the retired key %s (%s): %d earlier versions of secrets in %s, from releases before service keys, carry their own data key under it and read only with it.\nhint: they leave the history as newer versions are written (then run `cchain rotate --new-master-key` again to remove it); to give them up now: rm %s", id, path, u.History, safeInline(strings.Join(u.Services, ", ")), path)
		case damaged > 0 || keep:
			err = m.printf("kept the retired key %s (%s): %d items of the store could not be decoded or checked and may need it", id, path, damaged)
		case m.dryRun:
			err = m.printf("the retired key %s (%s) would be removed: nothing in the store needs it", id, path)
		default:
			if err = local.RemoveRetired(m.path, id); err == nil {
				err = m.printf("removed the retired key %s: nothing in the store needs it", id)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRing opens svc's ring with the Store check, whose only key is the
// master key: every version when the Store can check a ring by itself, else
// (List) the newest version, whose MAC covers the ring, and each version a
// current secret is sealed under. It writes nothing.
func (m *masterMove) checkRing(ctx context.Context, check *cloudchain.Store, svc string) error {
	if c, ok := any(check).(interface {
		CheckServiceKeys(context.Context, string) (int, error)
	}); ok {
		_, err := c.CheckServiceKeys(ctx, svc)
		return err
	}
	_, err := check.List(ctx, svc)
	return err
}

// plan reports what a run that starts or resumes a move would do, writing
// nothing. next is nil when no move is under way.
func (m *masterMove) plan(ctx context.Context, next *local.Provider, all []*local.Provider, services []string) error {
	st, err := m.cfg.OpenWithLocalKeys(m.counted(local.NewSet(all[0], all...)))
	if err != nil {
		return err
	}
	defer st.Close()
	if len(services) == 0 {
		if services, err = st.Services(ctx); err != nil {
			return err
		}
	}
	todo, versions, known := 0, 0, true
	for _, svc := range services {
		keyIDs, ok, err := ringKeyIDs(ctx, st, svc)
		if err != nil {
			return err
		}
		known = known && ok
		n := 0
		for _, id := range keyIDs {
			if next == nil || id != next.KeyID() {
				n++
			}
		}
		if n > 0 || !ok {
			todo++
			versions += n
		}
	}
	target := "a new master key, written to " + local.NextPath(m.path) + " first"
	if next != nil {
		target = "the master key " + next.KeyID() + " of the move under way"
	}
	count := fmt.Sprintf("%d service key versions: as many unwraps and wraps", versions)
	if !known {
		count = "one unwrap and one wrap per service key version"
	}
	if err := m.printf("dry run: would re-wrap the key rings of %d of %d services under %s (%s)", todo, len(services), target, count); err != nil {
		return err
	}
	use, damaged, err := m.cfg.LocalKeyUse(ctx, all[0].KeyID())
	if err != nil {
		return err
	}
	u := use[all[0].KeyID()]
	switch {
	case u.Current+u.History > 0 || damaged > 0:
		err = m.printf("then make it %s and keep the old key %s as %s: %d current and %d earlier versions of secrets carry their own data key under it (run `cchain upgrade` first to re-save the current ones), and %d items could not be decoded", m.path, all[0].KeyID(), local.RetiredPath(m.path, all[0].KeyID()), u.Current, u.History, damaged)
	default:
		err = m.printf("then make it %s and remove the old key %s: nothing else in the store needs it", m.path, all[0].KeyID())
	}
	if err != nil {
		return err
	}
	return m.printf("dry run: nothing was written")
}

// ringKeyIDs returns the key id of each version of svc's ring, when the
// Store can say without a key-provider call; ok is false when it cannot.
func ringKeyIDs(ctx context.Context, st *cloudchain.Store, svc string) (ids []string, ok bool, err error) {
	r, ok := any(st).(interface {
		ServiceKeyIDs(context.Context, string) ([]string, error)
	})
	if !ok {
		return nil, false, nil
	}
	ids, err = r.ServiceKeyIDs(ctx, svc)
	return ids, err == nil, err
}

func ids(ps []*local.Provider) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.KeyID()
	}
	return out
}

func closeProviders(ps []*local.Provider) {
	for _, p := range ps {
		p.Close()
	}
}

// countedKeys counts a key provider's unwraps, and keeps the first that
// failed.
type countedKeys struct {
	*local.Set
	n *atomic.Int64

	mu  sync.Mutex
	err error
}

func (c *countedKeys) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	c.n.Add(1)
	p, err := c.Set.Decrypt(ctx, keyID, wrapped, encCtx)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return p, err
}

// takeErr returns the first failed unwrap since the last call, and forgets it.
func (c *countedKeys) takeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.err
	c.err = nil
	return err
}

func (m *masterMove) counted(s *local.Set) *countedKeys { return &countedKeys{Set: s, n: &m.unwraps} }

// countedEncrypter counts wraps.
type countedEncrypter struct {
	cloudchain.Encrypter
	n *atomic.Int64
}

func (c countedEncrypter) Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, string, error) {
	c.n.Add(1)
	return c.Encrypter.Encrypt(ctx, plaintext, encCtx)
}

// oneLineErr is err's message on one line.
func oneLineErr(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
