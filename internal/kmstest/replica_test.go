package kmstest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestReplicateKey(t *testing.T) {
	ctx := context.Background()
	east := NewServer(t)
	west := NewServer(t, WithRegion("us-west-2"))
	arn := east.CreateMultiRegionKey("cloudchain")
	if !strings.Contains(arn, ":us-east-1:") || !strings.Contains(arn, ":key/mrk-") {
		t.Fatalf("arn = %s", arn)
	}
	replica := west.ReplicateKey(east, arn, "cloudchain")
	if replica != strings.Replace(arn, "us-east-1", "us-west-2", 1) {
		t.Fatalf("replica arn = %s", replica)
	}
	encCtx := map[string]string{"service": "db"}
	out, err := east.NewClient().Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/cloudchain"), Plaintext: []byte("p"), EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	for _, keyID := range []string{"alias/cloudchain", replica, ""} {
		dec, err := west.NewClient().Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keyID), CiphertextBlob: out.CiphertextBlob, EncryptionContext: encCtx})
		if keyID == "" {
			dec, err = west.NewClient().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: encCtx})
		}
		if err != nil || string(dec.Plaintext) != "p" || aws.ToString(dec.KeyId) != replica {
			t.Fatalf("decrypt in the replica with KeyId %q: %v", keyID, err)
		}
	}
	// The primary's ARN names another region: the replica does not know it.
	_, err = west.NewClient().Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(arn), CiphertextBlob: out.CiphertextBlob, EncryptionContext: encCtx})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("the primary's ARN in the replica region: %v", err)
	}
	// A single-Region key of another server does not decrypt there.
	other := east.CreateKey("")
	o, err := east.NewClient().Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(other), Plaintext: []byte("p"), EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	var ic *types.InvalidCiphertextException
	if _, err := west.NewClient().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: o.CiphertextBlob, EncryptionContext: encCtx}); !errors.As(err, &ic) {
		t.Fatalf("a single-Region key's ciphertext in another region: %v", err)
	}
}
