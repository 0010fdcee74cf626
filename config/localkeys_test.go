package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudchain/cloudchain"
)

func TestLocalKeysLifecycle(t *testing.T) {
	dir := t.TempDir()
	keyPath, storePath := filepath.Join(dir, "master.key"), filepath.Join(dir, "secrets.db")
	ctx := context.Background()

	// Nothing exists: reading creates nothing.
	l := &localKeys{keyPath: keyPath, storePath: storePath}
	if _, err := l.Decrypt(ctx, "local:x", nil, nil); !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("Decrypt with no key: err = %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read created the key: %v", err)
	}
	// The first write creates it.
	if _, err := l.GenerateDataKey(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatal(err)
	}

	// A store without its key is refused, for reads and writes alike.
	if err := os.WriteFile(storePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	l = &localKeys{keyPath: keyPath, storePath: storePath}
	_, err := l.GenerateDataKey(ctx, nil)
	var mk *MissingKeyError
	if !errors.As(err, &mk) || !errors.Is(err, cloudchain.ErrWrongKey) {
		t.Fatalf("write with the key missing beside a store: err = %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing key was replaced: %v", err)
	}
}

func TestLocalKeysOwnsKeyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	keyPath, storePath := filepath.Join(dir, "data", "master.key"), filepath.Join(dir, "data", "secrets.db")
	ctx := context.Background()
	l := &localKeys{keyPath: keyPath, storePath: storePath}
	if l.OwnsKey("local:0123456789abcdef") || l.OwnsKey("") {
		t.Fatal("a key is owned before there is a key file")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OwnsKey created the data directory: %v", err)
	}
	dk, err := l.GenerateDataKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !l.OwnsKey(dk.KeyID) || l.OwnsKey("local:0123456789abcdef") {
		t.Fatalf("OwnsKey after the first write: own %v", l.OwnsKey(dk.KeyID))
	}
	// A fresh wrapper (the next process) loads the key to answer.
	l2 := &localKeys{keyPath: keyPath, storePath: storePath}
	if !l2.OwnsKey(dk.KeyID) {
		t.Fatal("a new process does not own the key of the file")
	}
	var _ interface{ OwnsKey(string) bool } = l2
}
