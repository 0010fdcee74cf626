package local_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

// v1Fixture is testdata/v1: a key file and wrapped keys made by the code
// before key separation (wrapped-key version 1, sealed under the master key).
type v1Fixture struct {
	KeyID   string `json:"key_id"`
	Wrapped []struct {
		Context   map[string]string `json:"context"`
		Wrapped   string            `json:"wrapped"`
		Plaintext string            `json:"plaintext"`
	} `json:"wrapped"`
}

// copyKey copies a committed key file to a private directory with mode
// 0600, which git does not keep.
func copyKey(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadsKeysWrappedBeforeKeySeparation(t *testing.T) {
	ctx := context.Background()
	var fx v1Fixture
	data, err := os.ReadFile("testdata/v1/v1-wrapped.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	p, err := local.Load(copyKey(t, "testdata/v1/master.key"))
	if err != nil {
		t.Fatal(err)
	}
	// The key id of an existing store keeps its meaning.
	if p.KeyID() != fx.KeyID || !p.OwnsKey(fx.KeyID) {
		t.Fatalf("key id %q, want %q as before", p.KeyID(), fx.KeyID)
	}
	for _, w := range fx.Wrapped {
		wrapped, _ := base64.StdEncoding.DecodeString(w.Wrapped)
		want, _ := base64.StdEncoding.DecodeString(w.Plaintext)
		if wrapped[0] != 1 {
			t.Fatalf("fixture is not a version 1 wrapped key")
		}
		got, err := p.Decrypt(ctx, fx.KeyID, wrapped, w.Context)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("context %v: Decrypt = %x, %v; want the fixture's key", w.Context, got, err)
		}
		// The context is still bound.
		if _, err := p.Decrypt(ctx, fx.KeyID, wrapped, map[string]string{"service": "other"}); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("version 1 key with another context: err = %v", err)
		}
	}

	// New keys are wrapped under the derived key (version 2), which the
	// master key itself does not open: relabelling one as version 1 fails.
	dk, err := p.GenerateDataKey(ctx, cloudchain.ServiceContext("db"))
	if err != nil {
		t.Fatal(err)
	}
	if dk.Wrapped[0] != 2 || dk.KeyID != fx.KeyID {
		t.Fatalf("new wrapped key: version %d, id %q", dk.Wrapped[0], dk.KeyID)
	}
	relabelled := bytes.Clone(dk.Wrapped)
	relabelled[0] = 1
	if _, err := p.Decrypt(ctx, dk.KeyID, relabelled, cloudchain.ServiceContext("db")); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("version 2 key relabelled as version 1: err = %v", err)
	}
	got, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, cloudchain.ServiceContext("db"))
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("version 2 round trip: %v", err)
	}
}

func TestOwnsKey(t *testing.T) {
	p := mustOpen(t, keyPath(t))
	other := mustOpen(t, keyPath(t))
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{p.KeyID(), true},
		{other.KeyID(), false},
		{"", false},
		{"arn:aws:kms:us-east-1:123456789012:key/x", false},
		{strings.ToUpper(p.KeyID()), false},
	} {
		if got := p.OwnsKey(tc.id); got != tc.want {
			t.Errorf("OwnsKey(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestKeyFileOwnerAndDirectory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir, path string)
		want    string
	}{
		{"group-writable directory", func(t *testing.T, dir, path string) { chmod(t, dir, 0o770) }, "has permissions 0770, so others may replace the key"},
		{"world-writable sticky directory", func(t *testing.T, dir, path string) { chmod(t, dir, 0o1777) }, "has permissions 0777"},
		{"file of another user", func(t *testing.T, dir, path string) { chown(t, path, 4242) }, "owned by uid 4242, not by you"},
		{"directory of another user", func(t *testing.T, dir, path string) { chown(t, dir, 4242) }, "directory is owned by uid 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			path := filepath.Join(dir, "master.key")
			p := mustOpen(t, path)
			p.Close()
			tc.prepare(t, dir, path)
			for _, open := range []func(string, ...local.Option) (*local.Provider, error){local.Open, local.Load} {
				_, err := open(path)
				if !errors.Is(err, local.ErrKeyPermissions) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "\nhint: ") {
					t.Fatalf("err = %v, want ErrKeyPermissions with %q and a hint", err, tc.want)
				}
			}
		})
	}
	t.Run("no key is created in a group-writable directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		chmod(t, dir, 0o775)
		if _, err := local.Open(filepath.Join(dir, "master.key")); !errors.Is(err, local.ErrKeyPermissions) {
			t.Fatalf("err = %v, want ErrKeyPermissions", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("files were left in the directory: %v", entries)
		}
	})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if mode&0o1000 != 0 {
		mode = mode&0o777 | os.ModeSticky
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// chown gives path to another user, which only root can do.
func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

func TestClosedProviderRefusesWork(t *testing.T) {
	ctx := context.Background()
	p := mustOpen(t, keyPath(t))
	dk, err := p.GenerateDataKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.GenerateDataKey(ctx, nil); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("GenerateDataKey after Close: %v", err)
	}
	if _, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, nil); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("Decrypt after Close: %v", err)
	}
}
