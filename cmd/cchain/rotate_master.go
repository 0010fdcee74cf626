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
//     service key version), skipping rings already there
//     (Store.ServiceKeyIDs, no key-provider call).
//  3. The new key becomes master.key, the old one kept as
//     master.key.retired-ID (local.Promote).
//  4. Every version of every ring is opened under the new key alone
//     (Store.CheckServiceKeys, one unwrap each, no write); a ring still under an
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
	} else if err := m.printf("%s the move to the master key %s (%s)", map[bool]string{true: "under way:", false: "resuming"}[m.dryRun], next.KeyID(), local.NextPath(m.path)); err != nil {
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
	keyIDs, err := st.ServiceKeyIDs(ctx, svc)
	if err != nil {
		return 0, false, err
	}
	if len(keyIDs) > 0 && !slices.ContainsFunc(keyIDs, func(id string) bool { return id != to.KeyID() }) {
		return 0, true, nil
	}
	n, err := st.RewrapServiceKeys(ctx, svc, countedEncrypter{to.Encrypter(), &m.wraps})
	return n, false, err
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
	todo, versions := 0, 0
	for _, svc := range services {
		keyIDs, err := st.ServiceKeyIDs(ctx, svc)
		if err != nil {
			return err
		}
		n := 0
		for _, id := range keyIDs {
			if next == nil || id != next.KeyID() {
				n++
			}
		}
		if n > 0 {
			todo++
			versions += n
		}
	}
	target := "a new master key, written to " + local.NextPath(m.path) + " first"
	if next != nil {
		target = "the master key " + next.KeyID() + " of the move under way"
	}
	if err := m.printf("dry run: would re-wrap the key rings of %d of %d services under %s (%d service key versions: as many unwraps and wraps)", todo, len(services), target, versions); err != nil {
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

// countedKeys counts a key provider's unwraps.
type countedKeys struct {
	*local.Set
	n *atomic.Int64
}

func (c countedKeys) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	c.n.Add(1)
	return c.Set.Decrypt(ctx, keyID, wrapped, encCtx)
}

func (m *masterMove) counted(s *local.Set) countedKeys { return countedKeys{s, &m.unwraps} }

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
