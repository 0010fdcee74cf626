package local_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

// TestSetSelectsKeyByID: a set wraps under its primary key and opens what
// any of its keys wrapped, choosing the key by the id recorded with it; a
// key outside the set is still ErrWrongKey, and the wrong key of the set for
// a wrapped key is ErrAuthentication.
func TestSetSelectsKeyByID(t *testing.T) {
	ctx := context.Background()
	encCtx := cloudchain.ServiceContext("db")
	a, b, c := mustOpen(t, keyPath(t)), mustOpen(t, keyPath(t)), mustOpen(t, keyPath(t))
	set := local.NewSet(b, a, b)
	defer set.Close()
	if got := set.KeyIDs(); len(got) != 2 || got[0] != b.KeyID() || got[1] != a.KeyID() || set.KeyID() != b.KeyID() {
		t.Fatalf("KeyIDs %v, KeyID %s", got, set.KeyID())
	}
	dk, err := set.GenerateDataKey(ctx, encCtx)
	if err != nil || dk.KeyID != b.KeyID() {
		t.Fatalf("GenerateDataKey: %v, under %s", err, dk.KeyID)
	}
	wrapped := map[string]*cloudchain.DataKey{"primary": dk}
	for name, p := range map[string]*local.Provider{"decrypt-only": a, "outside": c} {
		if wrapped[name], err = p.GenerateDataKey(ctx, encCtx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, keyID string
		dk          *cloudchain.DataKey
		want        error
	}{
		{"primary", b.KeyID(), wrapped["primary"], nil},
		{"decrypt-only", a.KeyID(), wrapped["decrypt-only"], nil},
		{"outside the set", c.KeyID(), wrapped["outside"], cloudchain.ErrWrongKey},
		{"named as another key of the set", b.KeyID(), wrapped["decrypt-only"], cloudchain.ErrAuthentication},
		{"empty id", "", wrapped["primary"], cloudchain.ErrWrongKey},
	} {
		got, err := set.Decrypt(ctx, tc.keyID, tc.dk.Wrapped, encCtx)
		switch {
		case tc.want == nil && (err != nil || !bytes.Equal(got, tc.dk.Plaintext)):
			t.Errorf("%s: err = %v", tc.name, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	var wk *cloudchain.WrongKeyError
	if _, err := set.Decrypt(ctx, c.KeyID(), wrapped["outside"].Wrapped, encCtx); !errors.As(err, &wk) || wk.ProviderKey != b.KeyID() {
		t.Fatalf("a key outside the set: %v", err)
	}
	if !set.OwnsKey(a.KeyID()) || !set.OwnsKey(b.KeyID()) || set.OwnsKey(c.KeyID()) {
		t.Fatal("OwnsKey")
	}
}

// TestEncrypterWrapsKeysOnly: the Encrypter wraps 32-byte keys exactly as
// GenerateDataKey does, bound to the context, and refuses anything else.
func TestEncrypterWrapsKeysOnly(t *testing.T) {
	ctx := context.Background()
	p := mustOpen(t, keyPath(t))
	key := bytes.Repeat([]byte{7}, local.KeySize)
	wrapped, id, err := p.Encrypter().Encrypt(ctx, key, cloudchain.ServiceContext("db"))
	if err != nil || id != p.KeyID() || len(wrapped) != local.WrappedSize {
		t.Fatalf("Encrypt: %v, id %s, %d bytes", err, id, len(wrapped))
	}
	if got, err := p.Decrypt(ctx, id, wrapped, cloudchain.ServiceContext("db")); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Decrypt: %v", err)
	}
	if _, err := p.Decrypt(ctx, id, wrapped, cloudchain.ServiceContext("web")); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("another context: %v", err)
	}
	for _, n := range []int{0, 31, 33, 100} {
		if _, _, err := p.Encrypter().Encrypt(ctx, make([]byte, n), nil); !errors.Is(err, cloudchain.ErrUnsupported) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
}

// TestPromote walks the states of a move (see the package documentation),
// including a promotion interrupted after its first step, and checks the
// files after each.
func TestPromote(t *testing.T) {
	path := keyPath(t)
	old := mustOpen(t, path)
	next, created, err := local.CreateNext(path)
	if err != nil || !created {
		t.Fatalf("CreateNext: %v, created %v", err, created)
	}
	again, created, err := local.CreateNext(path)
	if err != nil || created || again.KeyID() != next.KeyID() {
		t.Fatalf("CreateNext again: %v, created %v: an interrupted move must resume with its key", err, created)
	}
	retired := local.RetiredPath(path, old.KeyID())
	if filepath.Base(retired) != "master.key.retired-"+old.KeyID()[len("local:"):] {
		t.Fatalf("RetiredPath = %s", retired)
	}
	// An interrupted promotion: the retired link made, the rename not.
	if err := os.Link(path, retired); err != nil {
		t.Fatal(err)
	}
	id, err := local.Promote(path)
	if err != nil || id != old.KeyID() {
		t.Fatalf("Promote: %q, %v", id, err)
	}
	want := map[string]string{path: next.KeyID(), retired: old.KeyID()}
	for file, wantID := range want {
		p, err := local.Load(file)
		if err != nil || p.KeyID() != wantID {
			t.Fatalf("%s: %v, holds %v, want %s", file, err, p, wantID)
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", file, fi.Mode())
		}
	}
	if _, err := os.Stat(local.NextPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the next key is still there: %v", err)
	}
	if n, err := local.LoadNext(path); n != nil || err != nil {
		t.Fatalf("LoadNext after the move: %v, %v", n, err)
	}
	ps, err := local.LoadRetired(path)
	if err != nil || len(ps) != 1 || ps[0].KeyID() != old.KeyID() {
		t.Fatalf("LoadRetired: %v, %d keys", err, len(ps))
	}
	if id, err := local.Promote(path); id != "" || err != nil {
		t.Fatalf("Promote once done: %q, %v", id, err)
	}
	for range 2 {
		if err := local.RemoveRetired(path, old.KeyID()); err != nil {
			t.Fatal(err)
		}
	}
	if ps, err := local.LoadRetired(path); err != nil || len(ps) != 0 {
		t.Fatalf("LoadRetired after RemoveRetired: %v, %d keys", err, len(ps))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

// TestPromoteRefusesAWrongRetiredFile: a file in the retired key's place
// that holds another key is never overwritten or trusted.
func TestPromoteRefusesAWrongRetiredFile(t *testing.T) {
	path := keyPath(t)
	old := mustOpen(t, path)
	next, _, err := local.CreateNext(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(local.NextPath(path), local.RetiredPath(path, old.KeyID())); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Promote(path); !errors.Is(err, local.ErrBadKeyFile) {
		t.Fatalf("Promote: %v", err)
	}
	if p, err := local.Load(path); err != nil || p.KeyID() != old.KeyID() {
		t.Fatalf("the key file changed: %v", err)
	}
	if p, err := local.LoadNext(path); err != nil || p.KeyID() != next.KeyID() {
		t.Fatalf("the next key changed: %v", err)
	}
}
