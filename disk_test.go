package cloudchain_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/keys/local"
)

// recordingKeys remembers every plaintext key it hands out (the service keys).
type recordingKeys struct {
	cloudchain.KeyProvider
	mu   sync.Mutex
	seen [][]byte
}

func (r *recordingKeys) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	dk, err := r.KeyProvider.GenerateDataKey(ctx, encCtx)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, bytes.Clone(dk.Plaintext))
		r.mu.Unlock()
	}
	return dk, err
}

// TestNoPlaintextOnDisk: after puts, gets, a rollback and a delete on the
// embedded default, neither a secret nor any service key is anywhere in the
// data directory.
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	base, err := local.Open(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys := &recordingKeys{KeyProvider: base}
	be, err := bolt.Open(filepath.Join(dir, "secrets.db"))
	if err != nil {
		t.Fatal(err)
	}
	st := cloudchain.New(be, keys)
	ctx := context.Background()
	var secrets [][]byte
	for i := range 5 {
		s := []byte(fmt.Sprintf("PLAINTEXT-MARKER-%d-correct-horse-battery-staple", i))
		secrets = append(secrets, s)
		if _, err := st.Put(ctx, []string{"db", "api"}[i%2], fmt.Sprintf("user%d", i%2), s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Rollback(ctx, "db", "user0", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, "api", "user1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "db", "user0"); err != nil {
		t.Fatal(err)
	}
	if len(keys.seen) != 2 {
		t.Fatalf("%d service keys made, want 2 (one per service)", len(keys.seen))
	}
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) || bytes.Contains(data, s[:16]) {
				t.Errorf("%s holds a secret in plaintext", path)
			}
		}
		for _, k := range keys.seen {
			if bytes.Contains(data, k) {
				t.Errorf("%s holds a data key in plaintext", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
