package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

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
	check, err := m.cfg.OpenWithLocalKeys(countedKeys{local.NewSet(cur), &m.checks})
	if err != nil {
		return err
	}
	defer check.Close()
	services, err := st.Services(ctx)
	if err != nil {
		return err
	}
	var failed []string
	versions := 0
	for _, svc := range services {
		n, err := check.CheckServiceKeys(ctx, svc)
		if errors.Is(err, cloudchain.ErrWrongKey) && len(retired) > 0 {
			// A ring made under an old key by a process that had loaded it.
			if m.dryRun {
				if err := m.printf("%s: its key ring is not under the master key yet; it would be re-wrapped", safeInline(svc)); err != nil {
					return err
				}
				continue
			}
			if _, _, err = m.rewrap(ctx, st, svc, cur); err == nil {
				n, err = check.CheckServiceKeys(ctx, svc)
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
