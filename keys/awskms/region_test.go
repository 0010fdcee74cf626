package awskms_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

func TestInRegion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd", "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd"},
		{"arn:aws:kms:us-east-1:111122223333:alias/cloudchain", "arn:aws:kms:us-west-2:111122223333:alias/cloudchain"},
		{"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab"},
		{"mrk-1234abcd", "mrk-1234abcd"},
		{"alias/cloudchain", "alias/cloudchain"},
		{"arn:aws:s3:::bucket", "arn:aws:s3:::bucket"},
		{"", ""},
	} {
		if got := awskms.InRegion(c.in, "us-west-2"); got != c.want {
			t.Errorf("InRegion(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestReplicaRegionDecrypts: a data key made through the primary region
// decrypts through a replica of the multi-Region key, whether the key is
// configured by alias, by the primary's ARN or listed in decrypt_keys.
func TestReplicaRegionDecrypts(t *testing.T) {
	ctx := context.Background()
	east := kmstest.NewServer(t)
	west := kmstest.NewServer(t, kmstest.WithRegion("us-west-2"))
	arn := east.CreateMultiRegionKey("cloudchain")
	west.ReplicateKey(east, arn, "cloudchain")
	encCtx := map[string]string{"service": "db"}
	dk, err := awskms.New(east.NewClient(), arn).GenerateDataKey(ctx, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*awskms.Provider{
		"alias":        awskms.New(west.NewClient(), "alias/cloudchain", awskms.WithReplicaRegion("us-west-2")),
		"primary ARN":  awskms.New(west.NewClient(), arn, awskms.WithReplicaRegion("us-west-2")),
		"decrypt_keys": awskms.New(west.NewClient(), "alias/other", awskms.WithDecryptKeys(arn), awskms.WithReplicaRegion("us-west-2")),
	} {
		pt, err := p.Decrypt(ctx, dk.KeyID, dk.Wrapped, encCtx)
		if err != nil || string(pt) != string(dk.Plaintext) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without the option the primary's ARN means nothing in the replica.
	_, err = awskms.New(west.NewClient(), arn).Decrypt(ctx, dk.KeyID, dk.Wrapped, encCtx)
	if err == nil || errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("no replica region: %v", err)
	}
	// The context still binds.
	if _, err := awskms.New(west.NewClient(), arn, awskms.WithReplicaRegion("us-west-2")).Decrypt(ctx, dk.KeyID, dk.Wrapped, map[string]string{"service": "other"}); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("wrong context in the replica: %v", err)
	}
}
