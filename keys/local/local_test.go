package local_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

func keyPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "sub", "dir", "master.key")
}

func mustOpen(t *testing.T, path string, opts ...local.Option) *local.Provider {
	t.Helper()
	p, err := local.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	p := mustOpen(t, keyPath(t))
	for _, encCtx := range []map[string]string{
		nil,
		cloudchain.ServiceContext("db"),
		{"b": "2", "a": "1", "c": ""},
	} {
		dk, err := p.GenerateDataKey(ctx, encCtx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dk.Plaintext) != 32 || len(dk.Wrapped) != local.WrappedSize || dk.KeyID != p.KeyID() {
			t.Fatalf("data key: %d-byte key, %d-byte wrapped, id %q", len(dk.Plaintext), len(dk.Wrapped), dk.KeyID)
		}
		if bytes.Contains(dk.Wrapped, dk.Plaintext) {
			t.Fatal("wrapped key contains the plaintext key")
		}
		got, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, encCtx)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, dk.Plaintext) {
			t.Fatal("Decrypt returned a different key")
		}
	}
	// Two data keys differ.
	a, _ := p.GenerateDataKey(ctx, nil)
	b, _ := p.GenerateDataKey(ctx, nil)
	if bytes.Equal(a.Plaintext, b.Plaintext) || bytes.Equal(a.Wrapped, b.Wrapped) {
		t.Fatal("two data keys are equal")
	}
}

func TestReopenSameKey(t *testing.T) {
	path := keyPath(t)
	p, created, err := local.Create(path)
	if err != nil || !created {
		t.Fatalf("Create: created=%v, %v", created, err)
	}
	dk, err := p.GenerateDataKey(context.Background(), cloudchain.ServiceContext("s"))
	if err != nil {
		t.Fatal(err)
	}
	q, created, err := local.Create(path)
	if err != nil || created {
		t.Fatalf("second Create: created=%v, %v", created, err)
	}
	if q.KeyID() != p.KeyID() || !strings.HasPrefix(p.KeyID(), "local:") || len(p.KeyID()) != len("local:")+16 {
		t.Fatalf("key ids %q and %q", p.KeyID(), q.KeyID())
	}
	if _, err := q.Decrypt(context.Background(), dk.KeyID, dk.Wrapped, cloudchain.ServiceContext("s")); err != nil {
		t.Fatalf("Decrypt after reopening: %v", err)
	}
	r, err := local.Load(path)
	if err != nil || r.KeyID() != p.KeyID() || r.Path() != path {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	path := keyPath(t)
	if _, err := local.Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Load created the directory")
	}
}

func TestPermissions(t *testing.T) {
	path := keyPath(t)
	mustOpen(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", perm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), local.Header+"\n") {
		t.Errorf("key file does not start with the header")
	}
}

func TestTooOpenRefused(t *testing.T) {
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o601} {
		t.Run(mode.String(), func(t *testing.T) {
			path := keyPath(t)
			p := mustOpen(t, path)
			before, _ := os.ReadFile(path)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			for name, open := range map[string]func(string, ...local.Option) (*local.Provider, error){"Open": local.Open, "Load": local.Load} {
				_, err := open(path)
				if !errors.Is(err, local.ErrKeyPermissions) {
					t.Fatalf("%s: got %v, want ErrKeyPermissions", name, err)
				}
				want := "permissions 0" + octal(mode) + " for '" + path + "' are too open; run: chmod 600 " + path
				if err.Error() != want {
					t.Errorf("%s error:\n got %q\nwant %q", name, err, want)
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the key file was modified")
			}
			// Fixing the mode as told makes it usable again.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			if q := mustOpen(t, path); q.KeyID() != p.KeyID() {
				t.Error("key changed")
			}
		})
	}
}

func octal(m fs.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestMalformedRefused(t *testing.T) {
	valid := local.Header + "\n" + strings.Repeat("QUFB", 10) + "QUE=\n" // 32 bytes
	tests := map[string]string{
		"empty":         "",
		"no header":     strings.Repeat("QUFB", 10) + "QUE=\n",
		"wrong header":  "cloudchain-local-key v2\n" + strings.Repeat("QUFB", 10) + "QUE=\n",
		"ssh key":       "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
		"short key":     local.Header + "\nQUFB\n",
		"bad base64":    local.Header + "\n" + strings.Repeat("!", 44) + "\n",
		"trailing junk": valid + "more\n",
		"header only":   local.Header + "\n",
		"truncated":     valid[:len(valid)-10],
		"huge":          local.Header + "\n" + strings.Repeat("A", 10000) + "\n",
	}
	// The valid case really is valid, so the others fail for their reason.
	t.Run("valid", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Load(path); err != nil {
			t.Fatal(err)
		}
	})
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, open := range []func(string, ...local.Option) (*local.Provider, error){local.Open, local.Load} {
				_, err := open(path)
				if !errors.Is(err, local.ErrBadKeyFile) || !errors.Is(err, cloudchain.ErrWrongKey) {
					t.Fatalf("got %v, want ErrBadKeyFile and cloudchain.ErrWrongKey (exit code 6)", err)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != content {
				t.Fatal("the malformed key file was modified or removed")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Open(path); !errors.Is(err, local.ErrBadKeyFile) {
			t.Fatalf("got %v, want ErrBadKeyFile", err)
		}
	})
}

func TestWrongKey(t *testing.T) {
	ctx := context.Background()
	a := mustOpen(t, keyPath(t))
	b := mustOpen(t, keyPath(t))
	if a.KeyID() == b.KeyID() {
		t.Fatal("two generated keys have the same id")
	}
	dk, err := a.GenerateDataKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Decrypt(ctx, dk.KeyID, dk.Wrapped, nil)
	if !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
	var wk *cloudchain.WrongKeyError
	if !errors.As(err, &wk) || wk.RecordKey != a.KeyID() || wk.ProviderKey != b.KeyID() {
		t.Fatalf("got %#v", err)
	}
	if !strings.Contains(err.Error(), a.KeyID()) || !strings.Contains(err.Error(), b.KeyID()) {
		t.Fatalf("error %q does not name both keys", err)
	}
	// A wrapped key under the right id but made by another key fails
	// authentication.
	if _, err := b.Decrypt(ctx, b.KeyID(), dk.Wrapped, nil); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("got %v, want ErrAuthentication", err)
	}
}

func TestTamper(t *testing.T) {
	ctx := context.Background()
	p := mustOpen(t, keyPath(t))
	encCtx := cloudchain.ServiceContext("svc")
	dk, err := p.GenerateDataKey(ctx, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dk.Wrapped {
		w := bytes.Clone(dk.Wrapped)
		w[i] ^= 0x01
		if _, err := p.Decrypt(ctx, dk.KeyID, w, encCtx); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("byte %d flipped: got %v, want ErrAuthentication", i, err)
		}
	}
	for _, w := range [][]byte{nil, dk.Wrapped[:len(dk.Wrapped)-1], append(bytes.Clone(dk.Wrapped), 0)} {
		if _, err := p.Decrypt(ctx, dk.KeyID, w, encCtx); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Fatalf("%d bytes: got %v, want ErrAuthentication", len(w), err)
		}
	}
	for name, other := range map[string]map[string]string{
		"other service": cloudchain.ServiceContext("svc2"),
		"no context":    nil,
		"extra entry":   {"service": "svc", "x": "y"},
		"other key":     {"Service": "svc"},
		"legacy":        cloudchain.LegacyContext(),
	} {
		if _, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, other); !errors.Is(err, cloudchain.ErrAuthentication) {
			t.Errorf("%s: got %v, want ErrAuthentication", name, err)
		}
	}
	// Length-prefixing keeps differently split contexts apart.
	dk2, _ := p.GenerateDataKey(ctx, map[string]string{"ab": "c"})
	if _, err := p.Decrypt(ctx, dk2.KeyID, dk2.Wrapped, map[string]string{"a": "bc"}); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Errorf("re-split context: got %v, want ErrAuthentication", err)
	}
}

// countingReader yields deterministic bytes, so tests can inject randomness.
type countingReader struct{ n byte }

func (r *countingReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = r.n
		r.n++
	}
	return len(b), nil
}

func TestInjectedRand(t *testing.T) {
	path := keyPath(t)
	p := mustOpen(t, path, local.WithRand(&countingReader{}))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	if p.KeyID() != local.KeyIDOf(key) {
		t.Fatal("master key did not come from the injected reader")
	}
	q, err := local.New(key)
	if err != nil || q.KeyID() != p.KeyID() {
		t.Fatalf("New: %v", err)
	}
	_, err = local.New(key[:31])
	if err == nil {
		t.Fatal("New accepted a 31-byte key")
	}
	dk, err := p.GenerateDataKey(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if dk.Plaintext[0] != 32 || dk.Wrapped[1] != 64 {
		t.Fatal("data key or nonce did not come from the injected reader")
	}
	if _, err := q.Decrypt(context.Background(), dk.KeyID, dk.Wrapped, nil); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	p := mustOpen(t, keyPath(t))
	dk, _ := p.GenerateDataKey(context.Background(), nil)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GenerateDataKey(context.Background(), nil); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	if _, err := p.Decrypt(context.Background(), dk.KeyID, dk.Wrapped, nil); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	path := keyPath(t)
	const n = 16
	ids := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			p, err := local.Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = p.KeyID()
		})
	}
	close(start)
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("goroutines got different keys: %v", ids)
		}
	}
	checkOneKeyFile(t, path, ids[0])
}

func checkOneKeyFile(t *testing.T, path, id string) {
	t.Helper()
	p, err := local.Load(path)
	if err != nil || p.KeyID() != id {
		t.Fatalf("the key file holds another key (%v)", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file", len(entries))
	}
}

const childEnv = "CLOUDCHAIN_LOCAL_TEST_CHILD_KEY"

// TestHelperProcess is run by TestConcurrentProcesses in child processes: it
// opens the key file named in the environment and prints the key id.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as a child process")
	}
	p, err := local.Open(path)
	if err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	os.Stdout.WriteString("ID=" + p.KeyID() + "\n")
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := keyPath(t)
	const n = 6
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	var id string
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], outs[i])
		}
		_, after, ok := strings.Cut(string(outs[i]), "ID=")
		if !ok {
			t.Fatalf("child %d printed %q", i, outs[i])
		}
		got, _, _ := strings.Cut(after, "\n")
		if id == "" {
			id = got
		}
		if got != id {
			t.Fatalf("processes got different keys: %s and %s", id, got)
		}
	}
	checkOneKeyFile(t, path, id)
}

func BenchmarkLocalGenerateDataKey(b *testing.B) {
	p, err := local.New(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	ctx, encCtx := context.Background(), cloudchain.ServiceContext("service")
	b.ReportAllocs()
	for b.Loop() {
		dk, err := p.GenerateDataKey(ctx, encCtx)
		if err != nil {
			b.Fatal(err)
		}
		cloudchain.Zero(dk.Plaintext)
	}
}

func BenchmarkLocalDecrypt(b *testing.B) {
	p, err := local.New(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	ctx, encCtx := context.Background(), cloudchain.ServiceContext("service")
	dk, err := p.GenerateDataKey(ctx, encCtx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, encCtx)
		if err != nil {
			b.Fatal(err)
		}
		cloudchain.Zero(k)
	}
}
