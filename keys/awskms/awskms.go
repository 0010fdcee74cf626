// Package awskms is the AWS KMS key provider of cloudchain.
//
// # Key management
//
// A Provider names one KMS key, by alias ("alias/cloudchain"), key id or key
// ARN. GenerateDataKey asks KMS for a 256-bit data key (KeySpec AES_256)
// under that key, bound to the encryption context it is given, and returns
// the key ARN that KMS reports, which the store records with the wrapped key.
// Decrypt passes the recorded key ARN to KMS as KeyId, so KMS itself refuses
// a ciphertext that was not made under that key; for records without a key
// id (written by the Python cloudchain) it lets KMS find the key from the
// ciphertext. The encryption context is always passed: KMS refuses to decrypt
// with any context other than the one the ciphertext was made with.
//
// CreateKey creates a symmetric key and its alias, for `cchain setup
// --create-key`.
//
// # Errors
//
// KMS errors are translated at this boundary into cloudchain's sentinel
// errors, after the SDK's own retries:
//
//   - InvalidCiphertextException: cloudchain.ErrAuthentication;
//   - IncorrectKeyException: cloudchain.ErrWrongKey;
//   - AccessDeniedException: cloudchain.ErrAccessDenied, naming the action
//     and the key;
//   - ThrottlingException, LimitExceededException: cloudchain.ErrThrottled;
//   - NotFoundException for the provider's own key (GenerateDataKey,
//     Encrypt): cloudchain.ErrNotSetUp, with a hint to check the key alias or
//     run `cchain setup --create-key`.
//
// Other errors, such as a disabled key or a key pending deletion, keep the
// SDK error in their chain (for errors.As) and are never reported as
// cloudchain.ErrNotFound. No error contains plaintext or a data key.
//
// # Backwards compatibility
//
// Ciphertexts written by the Python cloudchain (KMS Encrypt with the context
// {"string": "string"} and no recorded key id) decrypt with Decrypt and an
// empty key id. Encrypt writes the same format, for the store's legacy mode.
package awskms

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cloudchain/cloudchain"
)

// API is the part of the KMS client (*kms.Client) that a Provider uses.
type API interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

var _ API = (*kms.Client)(nil)

// Provider wraps and unwraps data keys with one KMS key. It is safe for
// concurrent use.
type Provider struct {
	api         API
	keyID       string
	decryptKeys []string
	// region is the replica region the Provider serves, if any
	// (WithReplicaRegion).
	region string
}

var (
	_ cloudchain.KeyProvider = (*Provider)(nil)
	_ cloudchain.Encrypter   = (*Provider)(nil)
	_ cloudchain.KeyOwner    = (*Provider)(nil)
)

// New returns a Provider that uses the KMS key keyID (an alias such as
// "alias/cloudchain", a key id, or a key or alias ARN) through api, usually a
// *kms.Client. With an empty keyID the Provider can only decrypt.
func New(api API, keyID string, opts ...Option) *Provider {
	p := &Provider{api: api, keyID: keyID}
	for _, o := range opts {
		o(p)
	}
	p.localize()
	return p
}

// An Option configures a Provider.
type Option func(*Provider)

// WithDecryptKeys names further keys (as records store them: key ARNs) whose
// records the Provider decrypts, besides its own key. Use it while records
// made under an earlier key are still stored. A bare key id (the last part
// of a key ARN) names the key in any region and account; an alias does not
// name a key here, since records name keys by ARN.
func WithDecryptKeys(keyIDs ...string) Option {
	return func(p *Provider) { p.decryptKeys = append(p.decryptKeys, keyIDs...) }
}

// KeyID returns the key id the Provider was created with.
func (p *Provider) KeyID() string { return p.keyID }

// dataKeySize is the size of the data keys cloudchain uses (AES-256).
const dataKeySize = 32

// maxPlaintext is the most KMS Encrypt accepts.
const maxPlaintext = 4096

// GenerateDataKey returns a fresh 256-bit data key from KMS GenerateDataKey,
// wrapped under the Provider's key with encCtx as encryption context. Its
// KeyID is the ARN of the key, as KMS reports it. The caller clears
// Plaintext after use.
func (p *Provider) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	if err := p.needKey("GenerateDataKey"); err != nil {
		return nil, err
	}
	out, err := p.api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(p.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, translate("GenerateDataKey", p.keyID, true, err)
	}
	if len(out.Plaintext) != dataKeySize || len(out.CiphertextBlob) == 0 {
		cloudchain.Zero(out.Plaintext)
		return nil, fmt.Errorf("kms:GenerateDataKey with key %s: got a %d-byte data key, want %d bytes", p.keyID, len(out.Plaintext), dataKeySize)
	}
	return &cloudchain.DataKey{
		Plaintext: out.Plaintext,
		Wrapped:   out.CiphertextBlob,
		KeyID:     reportedKey(out.KeyId, p.keyID),
	}, nil
}

// Decrypt unwraps ciphertext with KMS Decrypt and the encryption context
// encCtx.
//
// The key KMS may use is pinned, never taken from the record: KeyId is the
// Provider's configured key, or keyID itself when it is one of the keys
// given with WithDecryptKeys (for records written before a key change).
// Otherwise a record planted by someone who can write to the table, wrapped
// under a key of their own, would decrypt for any reader allowed to use that
// key. Legacy records (written by the Python tool) name no key: they are
// tried under the configured key, then under each of the WithDecryptKeys
// keys. A ciphertext made under any other key fails with an error wrapping
// cloudchain.ErrWrongKey; one whose bytes or context KMS rejects, with
// cloudchain.ErrAuthentication. A Provider with no configured key passes
// keyID as it is (or no KeyId, for legacy records).
func (p *Provider) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encCtx map[string]string) ([]byte, error) {
	if p.region != "" {
		keyID = InRegion(keyID, p.region)
	}
	trusted := keyID != "" && slices.ContainsFunc(p.decryptKeys, func(k string) bool { return sameKey(k, keyID) })
	switch {
	case p.keyID == "" || trusted:
		// A decrypt-only provider, or a key the caller listed: the
		// record's key is the one to use.
		return p.decrypt(ctx, keyID, false, ciphertext, encCtx)
	case keyID != "":
		pt, err := p.decrypt(ctx, p.keyID, true, ciphertext, encCtx)
		if errors.Is(err, cloudchain.ErrWrongKey) && looksLikeKeyARN(keyID) {
			err = fmt.Errorf("%w\nhint: the record names key %q; if that key is yours, list it in decrypt_keys in [IAMKMS]", err, keyID)
		}
		return pt, err
	}
	// A legacy record: no key id. Try the configured key, then the others.
	pt, err := p.decrypt(ctx, p.keyID, true, ciphertext, encCtx)
	for _, k := range p.decryptKeys {
		if !errors.Is(err, cloudchain.ErrWrongKey) {
			break
		}
		pt, err = p.decrypt(ctx, k, false, ciphertext, encCtx)
	}
	if errors.Is(err, cloudchain.ErrWrongKey) {
		err = fmt.Errorf("%w\nhint: a legacy record names no key; the key that wrote it must be the configured keyalias or be listed in decrypt_keys in [IAMKMS]", err)
	}
	return pt, err
}

func (p *Provider) decrypt(ctx context.Context, use string, own bool, ciphertext []byte, encCtx map[string]string) ([]byte, error) {
	in := &kms.DecryptInput{CiphertextBlob: ciphertext, EncryptionContext: encCtx}
	if use != "" {
		in.KeyId = aws.String(use)
	}
	out, err := p.api.Decrypt(ctx, in)
	if err != nil {
		return nil, translate("Decrypt", use, own, err)
	}
	return out.Plaintext, nil
}

// Encrypt encrypts plaintext (at most 4096 bytes) directly with KMS Encrypt
// under the Provider's key and encCtx, and returns the ciphertext blob and
// the ARN of the key, as KMS reports it. It is what the Python cloudchain
// did, and is used only to write the legacy format.
func (p *Provider) Encrypt(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, string, error) {
	if err := p.needKey("Encrypt"); err != nil {
		return nil, "", err
	}
	if len(plaintext) > maxPlaintext {
		return nil, "", fmt.Errorf("kms:Encrypt takes at most %d bytes, got %d: %w", maxPlaintext, len(plaintext), cloudchain.ErrTooLarge)
	}
	out, err := p.api.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(p.keyID),
		Plaintext:         plaintext,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, "", translate("Encrypt", p.keyID, true, err)
	}
	return out.CiphertextBlob, reportedKey(out.KeyId, p.keyID), nil
}

func (p *Provider) needKey(op string) error {
	if p.keyID == "" {
		return fmt.Errorf("kms:%s: no KMS key is configured\nhint: set keyalias in the [IAMKMS] section of the config file, or run `cchain setup --create-key`", op)
	}
	return nil
}

// reportedKey returns the key ARN that KMS reported, or the configured key
// id if it reported none.
func reportedKey(reported *string, configured string) string {
	if s := aws.ToString(reported); s != "" {
		return s
	}
	return configured
}

// CreateKeyAPI is the part of the KMS client (*kms.Client) that CreateKey
// uses.
type CreateKeyAPI interface {
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, optFns ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	CreateAlias(ctx context.Context, in *kms.CreateAliasInput, optFns ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	ScheduleKeyDeletion(ctx context.Context, in *kms.ScheduleKeyDeletionInput, optFns ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
}

var _ CreateKeyAPI = (*kms.Client)(nil)

// CreateKey makes sure that the alias (such as "alias/cloudchain"; the
// "alias/" prefix is added if missing) names a symmetric encryption key, and
// returns that key's ARN. If the alias exists it returns the ARN of its
// target key and creates nothing; otherwise it creates a key with the
// description and then the alias. If another process creates the alias
// first, the key made here is scheduled for deletion and the winner's key is
// returned.
func CreateKey(ctx context.Context, client CreateKeyAPI, alias, description string) (arn string, err error) {
	if alias == "" {
		return "", errors.New("kms: creating a key needs an alias")
	}
	if len(alias) < len("alias/") || alias[:len("alias/")] != "alias/" {
		alias = "alias/" + alias
	}
	arn, err = describe(ctx, client, alias)
	if err == nil || !isCode(err, "NotFoundException") {
		return arn, err
	}

	created, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String(description),
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
		KeySpec:     types.KeySpecSymmetricDefault,
	})
	if err != nil {
		return "", translate("CreateKey", alias, false, err)
	}
	if created.KeyMetadata == nil || aws.ToString(created.KeyMetadata.Arn) == "" {
		return "", errors.New("kms:CreateKey: the response has no key ARN")
	}
	keyARN := aws.ToString(created.KeyMetadata.Arn)
	_, err = client.CreateAlias(ctx, &kms.CreateAliasInput{
		AliasName:   aws.String(alias),
		TargetKeyId: aws.String(keyARN),
	})
	if err == nil {
		return keyARN, nil
	}
	// Whatever went wrong, the key just made is of no use: do not leave it
	// behind (KMS keeps it, pending deletion, for the minimum 7 days).
	_, delErr := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId:               aws.String(keyARN),
		PendingWindowInDays: aws.Int32(7),
	})
	if isCode(err, "AlreadyExistsException") {
		return describe(ctx, client, alias)
	}
	err = translate("CreateAlias", alias, false, err)
	if delErr != nil {
		err = fmt.Errorf("%w (and scheduling the deletion of the unused key %s failed: %v)", err, keyARN, delErr)
	}
	return "", err
}

// describe returns the ARN of the key that keyID names. A missing key keeps
// its NotFoundException in the chain.
func describe(ctx context.Context, client CreateKeyAPI, keyID string) (string, error) {
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		if isCode(err, "NotFoundException") {
			return "", err
		}
		return "", translate("DescribeKey", keyID, false, err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", fmt.Errorf("kms:DescribeKey for %s: the response has no key ARN", keyID)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// DescribeAPI is the part of the KMS client that DescribeKey uses.
type DescribeAPI interface {
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// DescribeKey returns the ARN of the key that keyID (an alias, key id or
// ARN) names, for `cchain setup` to show which key new secrets will use. A
// missing key gives an error wrapping cloudchain.ErrNotSetUp.
func DescribeKey(ctx context.Context, client DescribeAPI, keyID string) (string, error) {
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return "", translate("DescribeKey", keyID, true, err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", fmt.Errorf("kms:DescribeKey for %s: the response has no key ARN", keyID)
	}
	if !out.KeyMetadata.Enabled {
		return "", fmt.Errorf("kms:DescribeKey: KMS key %s (%s) is not enabled (state %s)", keyID, aws.ToString(out.KeyMetadata.Arn), out.KeyMetadata.KeyState)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}
