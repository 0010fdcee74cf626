package mototest_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cloudchain/cloudchain/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// TestAccountsAreSeparate checks what the CLI tests rely on: the same alias
// in two accounts names two keys, and the proxy counts requests.
func TestAccountsAreSeparate(t *testing.T) {
	endpoint := mototest.Start(t)
	a, b := mototest.NewAccount(t, endpoint), mototest.NewAccount(t, endpoint)
	ka, kb := mototest.KMS(t, a.URL), mototest.KMS(t, b.URL)
	arnA := mototest.CreateKey(t, ka, "alias/same")
	arnB := mototest.CreateKey(t, kb, "alias/same")
	if arnA == arnB {
		t.Fatalf("both accounts made key %s", arnA)
	}
	ctx := context.Background()
	out, err := ka.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/same")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.KeyMetadata.Arn); got != arnA {
		t.Errorf("alias/same in account %s is %s, want %s", a.ID, got, arnA)
	}
	if got := a.Count("DescribeKey"); got != 1 {
		t.Errorf("proxy counted %d DescribeKey requests, want 1 (all: %v)", got, a.Counts())
	}
}
