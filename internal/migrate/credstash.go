package migrate

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	smithy "github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/cloudchain/cloudchain"
)

// CredstashTable is credstash's default table name.
const CredstashTable = "credential-store"

// ErrVerify marks a credstash item whose HMAC does not match its contents, or
// whose data key KMS would not decrypt (a wrong encryption context, another
// account's key, a damaged key blob).
var ErrVerify = errors.New("verification failed")

// ErrFormat marks an item that is not in credstash's format.
var ErrFormat = errors.New("not a credstash item")

// Scanner is the DynamoDB operation the credstash reader uses.
type Scanner interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Decrypter is the KMS operation the credstash reader uses.
type Decrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// CredstashOptions say what to read from a credstash table.
type CredstashOptions struct {
	// Table is the table name (default CredstashTable).
	Table string
	// Context is the KMS encryption context the items were stored with
	// (credstash's `put NAME SECRET KEY=VALUE ...`); nil for none.
	Context map[string]string
	// AllVersions reads every version of each name, oldest first, instead
	// of the latest only.
	AllVersions bool
	// Map names the secrets (required).
	Map Mapper
	// Parallel bounds the concurrent KMS calls (default 8).
	Parallel int
}

// credstashItem is one parsed item.
type credstashItem struct {
	name, version string
	key, contents []byte
	mac           []byte
	digest        string
}

func (it *credstashItem) source() string {
	return fmt.Sprintf("credstash %s version %s", it.name, it.version)
}

// ReadCredstash reads a credstash table (credstash's format: items keyed by
// name and a zero-padded version string; `key` a KMS-encrypted 64-byte data
// key, whose first half is an AES-256-CTR key and second half an HMAC key;
// `contents` the base64 AES-CTR ciphertext with credstash's fixed initial
// counter; `hmac` the hex HMAC of the ciphertext under `digest`, SHA256 by
// default). It verifies each item's HMAC in constant time before decrypting
// it, and costs one Scan per page and one KMS Decrypt per item read.
//
// The latest version of a name is the one credstash reads: the greatest
// version string. With AllVersions every version is returned, oldest first;
// if any version of a name fails, none of that name's versions is returned
// (each is a Failure), so that no history is carried with a hole in it.
func ReadCredstash(ctx context.Context, db Scanner, keys Decrypter, o CredstashOptions) (*Result, error) {
	if o.Map == nil {
		return nil, errors.New("migrate: CredstashOptions.Map is required")
	}
	table := o.Table
	if table == "" {
		table = CredstashTable
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	byName := map[string][]*credstashItem{}
	var res Result
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scanning the credstash table %s: %w", table, err)
		}
		for _, raw := range page.Items {
			it, err := parseCredstashItem(raw)
			if err != nil {
				src := "credstash item"
				if it != nil {
					src = it.source()
				}
				res.Failures = append(res.Failures, Failure{Source: src, Err: err})
				if it != nil && it.name != "" {
					byName[it.name] = append(byName[it.name], nil) // a hole
				}
				continue
			}
			byName[it.name] = append(byName[it.name], it)
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)

	// Choose what to read, and name it, before any KMS call.
	type job struct {
		it            *credstashItem
		service, user string
	}
	var jobs [][]job // per name, oldest first
	for _, name := range names {
		items := byName[name]
		broken := slices.Contains(items, nil)
		items = slices.DeleteFunc(items, func(it *credstashItem) bool { return it == nil })
		slices.SortFunc(items, func(a, b *credstashItem) int { return strings.Compare(a.version, b.version) })
		if len(items) == 0 {
			continue
		}
		if !o.AllVersions {
			items = items[len(items)-1:]
			// A damaged item that is not the latest does not matter;
			// one that might be is already a failure.
			broken = false
		}
		service, user, err := o.Map(name)
		if err != nil {
			for _, it := range items {
				res.Failures = append(res.Failures, Failure{Source: it.source(), Err: err})
			}
			continue
		}
		if broken {
			for _, it := range items {
				res.Failures = append(res.Failures, Failure{Source: it.source(), Err: errors.New("not imported: another version of this name is damaged, and --all-versions carries history only whole")})
			}
			continue
		}
		var js []job
		for _, it := range items {
			js = append(js, job{it, service, user})
		}
		jobs = append(jobs, js)
	}

	// Decrypt, with bounded parallelism; keep the order.
	type outcome struct {
		value []byte
		err   error
	}
	out := make([][]outcome, len(jobs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, js := range jobs {
		out[i] = make([]outcome, len(js))
		for j, jb := range js {
			g.Go(func() error {
				v, err := openCredstash(gctx, keys, o.Context, jb.it)
				var fail *itemError
				if err != nil && !errors.As(err, &fail) {
					return fmt.Errorf("decrypting %s: %w", jb.it.source(), err)
				}
				mu.Lock()
				out[i][j] = outcome{v, err}
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		for _, os := range out {
			for _, o := range os {
				cloudchain.Zero(o.value)
			}
		}
		return nil, err
	}
	for i, js := range jobs {
		failed := false
		for _, o := range out[i] {
			failed = failed || o.err != nil
		}
		for j, jb := range js {
			o := out[i][j]
			switch {
			case o.err != nil:
				res.Failures = append(res.Failures, Failure{Source: jb.it.source(), Err: o.err})
			case failed:
				cloudchain.Zero(o.value)
				res.Failures = append(res.Failures, Failure{Source: jb.it.source(), Err: errors.New("not imported: another version of this name failed verification, and --all-versions carries history only whole")})
			default:
				res.Secrets = append(res.Secrets, Secret{Service: jb.service, User: jb.user, Value: o.value, Source: jb.it.source()})
			}
		}
	}
	slices.SortStableFunc(res.Failures, func(a, b Failure) int { return strings.Compare(a.Source, b.Source) })
	return &res, nil
}

// itemError is a failure that belongs to one item.
type itemError struct{ err error }

func (e *itemError) Error() string { return e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

func parseCredstashItem(raw map[string]types.AttributeValue) (*credstashItem, error) {
	it := &credstashItem{}
	var ok bool
	if it.name, ok = str(raw["name"]); !ok || it.name == "" {
		return nil, fmt.Errorf("%w: no string attribute name", ErrFormat)
	}
	if it.version, ok = str(raw["version"]); !ok {
		return it, fmt.Errorf("%w: no string attribute version", ErrFormat)
	}
	key, ok := str(raw["key"])
	if !ok {
		return it, fmt.Errorf("%w: no string attribute key", ErrFormat)
	}
	contents, ok := str(raw["contents"])
	if !ok {
		return it, fmt.Errorf("%w: no string attribute contents", ErrFormat)
	}
	var err error
	if it.key, err = base64.StdEncoding.DecodeString(key); err != nil {
		return it, fmt.Errorf("%w: the key is not base64", ErrFormat)
	}
	if it.contents, err = base64.StdEncoding.DecodeString(contents); err != nil {
		return it, fmt.Errorf("%w: the contents are not base64", ErrFormat)
	}
	// credstash under Python 3 stores the hex HMAC as bytes (a binary
	// attribute holding ASCII hex); under Python 2 as a string.
	var macHex string
	switch v := raw["hmac"].(type) {
	case *types.AttributeValueMemberS:
		macHex = v.Value
	case *types.AttributeValueMemberB:
		macHex = string(v.Value)
	default:
		return it, fmt.Errorf("%w: no attribute hmac", ErrFormat)
	}
	if it.mac, err = hex.DecodeString(macHex); err != nil {
		return it, fmt.Errorf("%w: the hmac is not hex", ErrFormat)
	}
	it.digest = "SHA256"
	if d, ok := str(raw["digest"]); ok && d != "" {
		it.digest = d
	}
	if digestOf(it.digest) == nil {
		return it, fmt.Errorf("%w: unknown digest %q", ErrFormat, printable(it.digest))
	}
	return it, nil
}

func str(av types.AttributeValue) (string, bool) {
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// digestOf returns the hash credstash names digest (its --digest choices).
func digestOf(digest string) func() hash.Hash {
	switch digest {
	case "SHA256":
		return sha256.New
	case "SHA":
		return sha1.New
	case "SHA224":
		return sha256.New224
	case "SHA384":
		return sha512.New384
	case "SHA512":
		return sha512.New
	case "MD5":
		return md5.New
	}
	return nil
}

// credstashIV is credstash's fixed initial counter block (LEGACY_NONCE): each
// item has its own data key, so the counter never repeats under a key.
var credstashIV = [aes.BlockSize]byte{aes.BlockSize - 1: 1}

// openCredstash unwraps the item's data key, checks the HMAC and decrypts.
// An error that is the item's own is an *itemError.
func openCredstash(ctx context.Context, keys Decrypter, encCtx map[string]string, it *credstashItem) ([]byte, error) {
	out, err := keys.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: it.key, EncryptionContext: encCtx})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && itemsKMSError(api.ErrorCode()) {
			return nil, &itemError{fmt.Errorf("%w: KMS would not decrypt the data key (%s; is --context right?)", ErrVerify, api.ErrorCode())}
		}
		return nil, err
	}
	key := out.Plaintext
	defer cloudchain.Zero(key)
	if len(key) != 64 {
		return nil, &itemError{fmt.Errorf("%w: the data key is %d bytes, credstash's are 64", ErrFormat, len(key))}
	}
	m := hmac.New(digestOf(it.digest), key[32:])
	m.Write(it.contents)
	if !hmac.Equal(m.Sum(nil), it.mac) {
		return nil, &itemError{fmt.Errorf("%w: the HMAC does not match the contents", ErrVerify)}
	}
	block, err := aes.NewCipher(key[:32])
	if err != nil {
		return nil, &itemError{err}
	}
	pt := make([]byte, len(it.contents))
	cipher.NewCTR(block, credstashIV[:]).XORKeyStream(pt, it.contents)
	return pt, nil
}

// itemsKMSError reports whether a KMS error code is about the item's key
// blob or key rather than the service: wrong context, damaged blob, a key
// that is gone, disabled or not the caller's.
func itemsKMSError(code string) bool {
	switch code {
	case "InvalidCiphertextException", "IncorrectKeyException", "NotFoundException",
		"DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException",
		"AccessDeniedException", "KeyUnavailableException":
		return true
	}
	return false
}

// printable returns s with every byte that is not printable ASCII replaced,
// for error messages about names found in someone else's table.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// CredstashItem builds the item credstash's putSecret would store for
// (name, version, value), given a 64-byte data key and that key as KMS
// encrypted it (GenerateDataKey with NumberOfBytes 64), with the SHA256
// digest. It is the inverse of ReadCredstash, for tests and tools.
func CredstashItem(name, version string, value, dataKey, wrappedKey []byte) map[string]types.AttributeValue {
	block, err := aes.NewCipher(dataKey[:32])
	if err != nil {
		panic(err)
	}
	ct := make([]byte, len(value))
	cipher.NewCTR(block, credstashIV[:]).XORKeyStream(ct, value)
	m := hmac.New(sha256.New, dataKey[32:])
	m.Write(ct)
	return map[string]types.AttributeValue{
		"name":     &types.AttributeValueMemberS{Value: name},
		"version":  &types.AttributeValueMemberS{Value: version},
		"key":      &types.AttributeValueMemberS{Value: base64.StdEncoding.EncodeToString(wrappedKey)},
		"contents": &types.AttributeValueMemberS{Value: base64.StdEncoding.EncodeToString(ct)},
		"hmac":     &types.AttributeValueMemberB{Value: []byte(hex.EncodeToString(m.Sum(nil)))},
		"digest":   &types.AttributeValueMemberS{Value: "SHA256"},
	}
}

// CredstashVersion is credstash's version string for n: zero-padded to 19
// digits, so that versions sort as strings.
func CredstashVersion(n int) string { return fmt.Sprintf("%019d", n) }
