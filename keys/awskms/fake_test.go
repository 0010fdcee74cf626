package awskms

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain"
)

// fakeAPI records requests and answers with canned outputs or errors.
type fakeAPI struct {
	gdk []*kms.GenerateDataKeyInput
	dec []*kms.DecryptInput
	enc []*kms.EncryptInput
	err error
}

const fakeARN = "arn:aws:kms:us-east-1:111122223333:key/fake"

func (f *fakeAPI) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	f.gdk = append(f.gdk, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(fakeARN), Plaintext: bytes.Repeat([]byte{1}, 32), CiphertextBlob: []byte("wrapped")}, nil
}

func (f *fakeAPI) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.dec = append(f.dec, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.DecryptOutput{KeyId: aws.String(fakeARN), Plaintext: []byte("plain")}, nil
}

func (f *fakeAPI) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	f.enc = append(f.enc, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.EncryptOutput{KeyId: aws.String(fakeARN), CiphertextBlob: []byte("blob")}, nil
}

func TestRequestShapes(t *testing.T) {
	ctx := context.Background()
	f := &fakeAPI{}
	p := New(f, "alias/cloudchain")

	dk, err := p.GenerateDataKey(ctx, map[string]string{"service": "db"})
	if err != nil {
		t.Fatal(err)
	}
	if dk.KeyID != fakeARN || string(dk.Wrapped) != "wrapped" {
		t.Errorf("data key = %+v", dk)
	}
	g := f.gdk[0]
	if aws.ToString(g.KeyId) != "alias/cloudchain" || g.KeySpec != types.DataKeySpecAes256 || g.NumberOfBytes != nil ||
		!maps.Equal(g.EncryptionContext, map[string]string{"service": "db"}) || len(g.GrantTokens) != 0 || g.DryRun != nil {
		t.Errorf("GenerateDataKey input = %+v", g)
	}

	if _, err := p.Decrypt(ctx, fakeARN, []byte("wrapped"), map[string]string{"service": "db"}); err != nil {
		t.Fatal(err)
	}
	d := f.dec[0]
	// KMS is always told to use the configured key, whatever the record says.
	if aws.ToString(d.KeyId) != "alias/cloudchain" || string(d.CiphertextBlob) != "wrapped" || !maps.Equal(d.EncryptionContext, map[string]string{"service": "db"}) || d.EncryptionAlgorithm != "" {
		t.Errorf("Decrypt input = %+v", d)
	}
	if _, err := p.Decrypt(ctx, "", []byte("legacy"), cloudchain.LegacyContext()); err != nil {
		t.Fatal(err)
	}
	if d := f.dec[1]; aws.ToString(d.KeyId) != "alias/cloudchain" || !maps.Equal(d.EncryptionContext, map[string]string{"string": "string"}) {
		t.Errorf("legacy Decrypt input = %+v (KeyId must be the configured key)", d)
	}
	if _, err := New(f, "").Decrypt(ctx, "", []byte("legacy"), cloudchain.LegacyContext()); err != nil {
		t.Fatal(err)
	}
	if d := f.dec[2]; d.KeyId != nil {
		t.Errorf("decrypt-only legacy Decrypt input = %+v (KeyId must be nil)", d)
	}

	ct, keyID, err := p.Encrypt(ctx, []byte("s"), cloudchain.LegacyContext())
	if err != nil || string(ct) != "blob" || keyID != fakeARN {
		t.Fatalf("Encrypt = %q, %q, %v", ct, keyID, err)
	}
	e := f.enc[0]
	if aws.ToString(e.KeyId) != "alias/cloudchain" || string(e.Plaintext) != "s" || !maps.Equal(e.EncryptionContext, map[string]string{"string": "string"}) {
		t.Errorf("Encrypt input = %+v", e)
	}
}

type shortKeyAPI struct{ fakeAPI }

func (f *shortKeyAPI) GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(fakeARN), Plaintext: []byte("short"), CiphertextBlob: []byte("w")}, nil
}

func TestShortDataKeyRefused(t *testing.T) {
	_, err := New(&shortKeyAPI{}, "k").GenerateDataKey(context.Background(), nil)
	if err == nil || strings.Contains(err.Error(), "short") {
		t.Fatalf("err = %v", err)
	}
}

// TestTranslate checks the mapping of every error class, including errors
// wrapped the way the SDK wraps them.
func TestTranslate(t *testing.T) {
	generic := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "msg"} }
	opErr := func(err error) error {
		return &smithy.OperationError{ServiceID: "KMS", OperationName: "Decrypt", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"invalid ciphertext", opErr(&types.InvalidCiphertextException{}), cloudchain.ErrAuthentication},
		{"incorrect key", opErr(&types.IncorrectKeyException{}), cloudchain.ErrWrongKey},
		{"access denied", opErr(generic("AccessDeniedException")), cloudchain.ErrAccessDenied},
		{"throttled", opErr(&retry.MaxAttemptsError{Attempt: 3, Err: generic("ThrottlingException")}), cloudchain.ErrThrottled},
		{"limit exceeded", opErr(&types.LimitExceededException{}), cloudchain.ErrThrottled},
		{"quota exhausted", opErr(errors.Join(generic("ThrottlingException"), errors.New("retry quota exceeded"))), cloudchain.ErrThrottled},
		{"not found", opErr(&types.NotFoundException{}), nil},
		{"disabled", opErr(&types.DisabledException{}), nil},
		{"invalid state", opErr(&types.KMSInvalidStateException{}), nil},
		{"internal", opErr(&types.KMSInternalException{}), nil},
		{"unknown code", opErr(generic("SomethingNewException")), nil},
		{"transport", opErr(errors.New("connection refused")), nil},
		{"canceled", opErr(context.Canceled), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{err: tc.err}
			// A decrypt-only provider passes the record's key id through.
			_, err := New(f, "").Decrypt(context.Background(), "arn:k", []byte("x"), nil)
			sentinels := []error{cloudchain.ErrAuthentication, cloudchain.ErrWrongKey, cloudchain.ErrAccessDenied,
				cloudchain.ErrThrottled, cloudchain.ErrNotFound, cloudchain.ErrNotSetUp}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !(s == tc.want))
				}
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap the SDK error", err)
			}
			if !strings.Contains(err.Error(), "kms:Decrypt") {
				t.Errorf("%q does not name the action", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Op != "kms:Decrypt" || e.Key != "arn:k" {
				t.Errorf("not an *Error with Op and Key: %#v", err)
			}
		})
	}
	if _, err := New(&fakeAPI{err: opErr(context.Canceled)}, "k").Decrypt(context.Background(), "", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancellation lost: %v", err)
	}
}
