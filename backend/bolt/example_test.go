package bolt_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
)

func Example() {
	dir, err := os.MkdirTemp("", "cchain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b, err := bolt.Open(bolt.DefaultPath(dir), bolt.WithTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, err = b.Load(ctx, "db", "admin")
	fmt.Println(err)

	v1 := &cloudchain.Item{Service: "db", User: "admin", Records: []*cloudchain.Record{{Version: 1, Deleted: true}}}
	if _, err := b.Save(ctx, nil, v1); err != nil {
		log.Fatal(err)
	}
	// A second writer that also read "no item" loses.
	_, err = b.Save(ctx, nil, v1)
	fmt.Println(err)

	it, err := b.Load(ctx, "db", "admin")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(it.Version(), filepath.Base(b.Path()))
	// Output:
	// db/admin: secret not found
	// version conflict on db/admin: expected no secret, found version 1
	// 1 secrets.db
}
