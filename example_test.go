package cloudchain_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/keys/local"
)

func newExampleStore() *cloudchain.Store {
	key := make([]byte, local.KeySize)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	keys, err := local.New(key)
	if err != nil {
		log.Fatal(err)
	}
	return cloudchain.New(memory.New(), keys)
}

// Versions, history and check-and-set on any backend.
func ExampleStore() {
	ctx := context.Background()
	store := newExampleStore()

	v1, _ := store.Put(ctx, "db", "alice", []byte("hunter2"))
	v2, _ := store.Put(ctx, "db", "alice", []byte("correct horse"), cloudchain.WithComment("rotated"))
	cur, _ := store.Get(ctx, "db", "alice")
	old, _ := store.GetVersion(ctx, "db", "alice", v1)
	fmt.Println(v1, v2, string(cur.Value), cur.Comment, string(old.Value))

	_, err := store.Put(ctx, "db", "alice", []byte("stale"), cloudchain.IfVersion(v1))
	fmt.Println(errors.Is(err, cloudchain.ErrVersionConflict))

	_, err = store.Get(ctx, "db", "bob")
	fmt.Println(errors.Is(err, cloudchain.ErrNotFound))
	// Output:
	// 1 2 correct horse rotated hunter2
	// true
	// true
}

// The Python tool's two functions, on a Store.
func ExampleStore_SaveCreds() {
	ctx := context.Background()
	store := newExampleStore()
	if err := store.SaveCreds(ctx, "db", "alice", "hunter2"); err != nil {
		log.Fatal(err)
	}
	secret, err := store.ReadCreds(ctx, "db", "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(secret)
	// Output: hunter2
}
