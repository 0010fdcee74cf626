package integration

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// TestConformanceFullStack runs the whole conformance suite, Store half
// included, on DynamoDB (dynalite) with the AWS KMS provider (the real SDK
// client against the KMS test server): tampering, wrong keys and request
// counts go through KMS itself.
func TestConformanceFullStack(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	k := kmstest.NewServer(t)
	client := k.NewClient()
	var n atomic.Int64
	backendtest.RunWithOptions(t, backendtest.Options{
		Many:        300,
		TooLarge:    410_000,
		HistoryDrop: 100_000,
		NewKeys: func(t *testing.T, name string) cloudchain.KeyProvider {
			alias := fmt.Sprintf("alias/%s-%d", name, n.Add(1))
			k.CreateKey(alias)
			return awskms.New(client, alias)
		},
	}, func(t *testing.T) cloudchain.Backend {
		c := dynalitetest.NewClient(t, endpoint)
		return dynamodb.New(c, dynalitetest.NewTable(t, c), dynamodb.WithPageSize(50))
	})
}
