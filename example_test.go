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

// Reading a whole service costs one key-provider call, whatever the number
// of secrets; writing many is idempotent.
func ExampleStore_GetServices() {
	ctx := context.Background()
	store := newExampleStore()
	res, err := store.PutMany(ctx, "db", []cloudchain.SecretValue{
		{User: "alice", Value: []byte("hunter2")},
		{User: "bob", Value: []byte("correct horse")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Status, res[1].Status)
	res, _ = store.PutMany(ctx, "db", []cloudchain.SecretValue{{User: "alice", Value: []byte("hunter2")}})
	fmt.Println(res[0].Status)
	secrets, err := store.GetServices(ctx, "db")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range secrets {
		fmt.Printf("%s=%s\n", s.User, s.Value)
	}
	// Output:
	// created created
	// unchanged
	// alice=hunter2
	// bob=correct horse
}
