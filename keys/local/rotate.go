package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// nextSuffix and retiredInfix name the new key during a move and the old
// keys kept after it.
const (
	nextSuffix   = ".next"
	retiredInfix = ".retired-"
)

// NextPath is where the key that the key file at path moves to is kept
// while the move is under way.
func NextPath(path string) string { return path + nextSuffix }

// RetiredPath is where the key with keyID (as KeyIDOf gives it) is kept
// after the key file at path moved to a new key, for as long as records
// wrapped under it remain.
func RetiredPath(path, keyID string) string {
	return path + retiredInfix + strings.TrimPrefix(keyID, "local:")
}

// CreateNext makes sure the key to move to exists at NextPath(path),
// generating it as Create does (written whole and synced, linked into place
// without ever replacing a file) if it does not: an interrupted move is
// resumed with the key it began with. created says whether this call wrote
// it.
func CreateNext(path string, opts ...Option) (p *Provider, created bool, err error) {
	return Create(NextPath(path), opts...)
}

// LoadNext loads the key at NextPath(path); it returns nil and no error when
// there is none.
func LoadNext(path string, opts ...Option) (*Provider, error) {
	p, err := Load(NextPath(path), opts...)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return p, err
}

// LoadRetired loads every retired key next to the key file at path, sorted
// by file name. A retired key file is checked as the key file is (format,
// permissions, owner), and its name must match its key's id, so that a file
// copied over another is noticed.
func LoadRetired(path string, opts ...Option) ([]*Provider, error) {
	names, err := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(filepath.Base(path)+retiredInfix)+"*"))
	if err != nil {
		return nil, fmt.Errorf("listing retired local keys: %w", err)
	}
	var out []*Provider
	for _, name := range names {
		p, err := Load(name, opts...)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile: nothing needed it any more
		}
		if err == nil && RetiredPath(path, p.KeyID()) != name {
			p.Close()
			err = &BadKeyFileError{Path: name, Reason: fmt.Sprintf("it holds key %s, which its name does not give", p.KeyID())}
		}
		if err != nil {
			for _, q := range out {
				q.Close()
			}
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// globEscape escapes the characters that filepath.Glob treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Promote makes the key at NextPath(path) the key file at path, keeping the
// key it replaces at RetiredPath(path, its id) (states A to C below). It
// returns the id of the retired key, or "" when there was no NextPath(path)
// (nothing to promote: the move is already done, or never began). The
// caller must have wrapped everything it needs under the new key first.
//
// A store moves to a new master key in four states of the files next to the
// key file K (master.key); at every instant the files on disk hold every key
// that anything stored is wrapped under:
//
//	A  K = old, K.next = new               CreateNext; then every service key is wrapped again under new
//	B  K = old, K.next = new, K.retired-ID = old   Promote, step 1: link(2) K to K.retired-ID (ID: old's id)
//	C  K = new, K.retired-ID = old         Promote, step 2: rename(2) K.next over K
//	D  K = new                             RemoveRetired, once nothing needs old
//
// The new key is written whole and synced, under a temporary name, and linked
// to K.next (as Create writes K), before anything is wrapped under it. link
// never replaces a file, rename replaces K in one step (so K always exists
// and holds one whole key), and the directory is synced after each step. A
// crash leaves one of these states, and the same steps run again finish from
// it: CreateNext reuses an existing K.next, Promote accepts a retired link of
// the same key and has nothing to do once K.next is gone. A reader that loads
// the files in the order K.next, K, K.retired-* while another process takes
// these steps gets every key still needed: it finds new in K.next or, if that
// was already renamed, in K; and old in K or, if K was already replaced, in
// K.retired-ID, which is only removed when nothing needs old. Set holds the
// keys of a store during a move, selecting each by the key id recorded with
// every wrapped key.
func Promote(path string) (retiredID string, err error) {
	next, err := Load(NextPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	next.Close()
	cur, err := Load(path)
	if err != nil {
		return "", fmt.Errorf("promoting the new local key: %w", err)
	}
	cur.Close()
	dir := filepath.Dir(path)
	if cur.KeyID() != next.KeyID() {
		retired := RetiredPath(path, cur.KeyID())
		if err := os.Link(path, retired); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("keeping the old local key as %s: %w", retired, err)
			}
			// An earlier, interrupted promotion made it: it must hold the
			// same key.
			old, err := Load(retired)
			if err != nil {
				return "", err
			}
			old.Close()
			if old.KeyID() != cur.KeyID() {
				return "", &BadKeyFileError{Path: retired, Reason: fmt.Sprintf("it holds key %s, which its name does not give", old.KeyID())}
			}
		}
		if err := syncDir(dir); err != nil {
			return "", fmt.Errorf("keeping the old local key as %s: %w", retired, err)
		}
	}
	if err := os.Rename(NextPath(path), path); err != nil {
		return "", fmt.Errorf("making %s the local key: %w", NextPath(path), err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("making %s the local key: %w", NextPath(path), err)
	}
	if cur.KeyID() == next.KeyID() {
		return "", nil
	}
	return cur.KeyID(), nil
}

// RemoveRetired deletes the retired key keyID next to the key file at path
// (state C to D), and syncs the directory. A key already gone is not an
// error. Anything still wrapped under that key can never be opened again.
func RemoveRetired(path, keyID string) error {
	name := RetiredPath(path, keyID)
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the retired local key %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("removing the retired local key %s: %w", name, err)
	}
	return nil
}
