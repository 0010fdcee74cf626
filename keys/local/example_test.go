package local_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/keys/local"
)

func Example() {
	// Real programs use local.Open(local.DefaultPath(dataDir)), which
	// generates the key file on first use.
	p, err := local.New(bytes.Repeat([]byte{42}, local.KeySize))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	dk, err := p.GenerateDataKey(ctx, cloudchain.ServiceContext("db"))
	if err != nil {
		log.Fatal(err)
	}
	defer cloudchain.Zero(dk.Plaintext)
	key, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, cloudchain.ServiceContext("db"))
	if err != nil {
		log.Fatal(err)
	}
	defer cloudchain.Zero(key)
	fmt.Println(dk.KeyID == p.KeyID(), bytes.Equal(key, dk.Plaintext), len(dk.Wrapped))
	_, err = p.Decrypt(ctx, dk.KeyID, dk.Wrapped, cloudchain.ServiceContext("web"))
	fmt.Println(err)
	// Output:
	// true true 61
	// unwrapping data key: authentication failed: record was tampered with or does not belong here
}
