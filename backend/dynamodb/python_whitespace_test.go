package dynamodb_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain"
)

// TestPythonSecretWithWhitespace: an item of the Python client whose Secret
// has a trailing newline or line breaks (as Python's base64.encodebytes
// writes) reads, and can then be written over and removed: the write
// conditions compare the Secret as stored, not its canonical re-encoding.
// Found by review: before the fix, every write and purge of it conflicted
// forever.
func TestPythonSecretWithWhitespace(t *testing.T) {
	blob := []byte(strings.Repeat("a KMS ciphertext blob, long enough to wrap. ", 3))
	canonical := base64.StdEncoding.EncodeToString(blob)
	for name, stored := range map[string]string{
		"TrailingNewline": canonical + "\n",
		"WrappedAt76":     canonical[:76] + "\n" + canonical[76:] + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ctx := ctxFor(t)
			put := func() *cloudchain.Item {
				av := pythonItem("svc", "bob", blob)
				av["Secret"] = s(stored)
				e.putRaw(t, av)
				prev, err := e.backend.Load(ctx, "svc", "bob")
				if err != nil {
					t.Fatalf("Load of the Python item: %v", err)
				}
				return prev
			}
			prev := put()
			next := itemOf("svc", "bob", record(2, 32), prev.Records[0])
			if _, err := e.backend.Save(ctx, prev, next); err != nil {
				t.Fatalf("Save over the item just loaded, with no writer in between: %v", err)
			}
			if got, err := e.backend.Load(ctx, "svc", "bob"); err != nil || got.Version() != 2 {
				t.Fatalf("after the Save: %v, %v", got, err)
			}
			prev = put()
			if err := e.backend.Remove(ctx, prev); err != nil {
				t.Fatalf("Remove of the item just loaded, with no writer in between: %v", err)
			}
			if _, err := e.backend.Load(ctx, "svc", "bob"); !errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("after the Remove: %v, want not found", err)
			}
			// Someone else's write in between still conflicts.
			prev = put()
			av := pythonItem("svc", "bob", []byte("another ciphertext"))
			e.putRaw(t, av)
			if _, err := e.backend.Save(ctx, prev, next); !errors.Is(err, cloudchain.ErrVersionConflict) {
				t.Fatalf("Save over an item changed since it was read: %v, want a version conflict", err)
			}
		})
	}
}
