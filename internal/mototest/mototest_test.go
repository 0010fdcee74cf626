package mototest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"

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

// TestAccountFaultsAndTranslation checks the proxy's injected faults and its
// opt-in translation of moto's wrong-key answer to AWS's.
func TestAccountFaultsAndTranslation(t *testing.T) {
	a := mototest.NewAccount(t, mototest.Start(t))
	c := mototest.KMS(t, a.URL)
	mototest.CreateKey(t, c, "alias/one")
	mototest.CreateKey(t, c, "alias/two")
	ctx := context.Background()
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/one"), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := func() error {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String("alias/two"), CiphertextBlob: enc.CiphertextBlob})
		return err
	}
	var denied smithy.APIError
	if err := wrongKey(); !errors.As(err, &denied) || denied.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("moto's answer to the wrong key: %v, want AccessDeniedException (has moto changed? update docs/design-as-built.md)", err)
	}
	a.TranslateIncorrectKey()
	var incorrect *types.IncorrectKeyException
	if err := wrongKey(); !errors.As(err, &incorrect) {
		t.Fatalf("translated answer: %v, want IncorrectKeyException", err)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String("alias/one"), CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	a.Fail("Decrypt", 1, "DisabledException", 400)
	var disabled *types.DisabledException
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); !errors.As(err, &disabled) {
		t.Fatalf("injected fault: %v, want DisabledException", err)
	}
}
