package integration

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/mototest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// TestConformanceMoto runs the whole conformance suite, Store half included,
// on moto: backend/dynamodb on moto's DynamoDB and keys/awskms on moto's KMS,
// in an account of the test's own. moto is an implementation of AWS
// independent of dynalite and of the project's KMS test server, so a
// behaviour both accept is much less likely to be an artefact of either.
func TestConformanceMoto(t *testing.T) {
	acct := mototest.NewAccount(t, mototest.Start(t))
	// moto answers a Decrypt under the wrong key with a bare
	// AccessDeniedException; AWS with IncorrectKeyException (docs/design-as-built.md).
	acct.TranslateIncorrectKey()
	client := mototest.KMS(t, acct.URL)
	var n atomic.Int64
	backendtest.RunWithOptions(t, backendtest.Options{
		Many:        300,
		TooLarge:    410_000,
		HistoryDrop: 100_000,
		NewKeys: func(t *testing.T, name string) cloudchain.KeyProvider {
			alias := fmt.Sprintf("alias/%s-%d", name, n.Add(1))
			mototest.CreateKey(t, client, alias)
			return awskms.New(client, alias)
		},
	}, func(t *testing.T) cloudchain.Backend {
		c := mototest.DynamoDB(t, acct.URL)
		return dynamodb.New(c, dynalitetest.NewTable(t, c), dynamodb.WithPageSize(50))
	})
}
