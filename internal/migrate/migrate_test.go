package migrate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	smithy "github.com/aws/smithy-go"
)

// fakeKMS decrypts the blobs it made, under the context they were made with.
type fakeKMS struct {
	mu    sync.Mutex
	keys  map[string]fakeKey
	calls int
	err   error // returned by every call when set
}

type fakeKey struct {
	key []byte
	ctx map[string]string
}

func (f *fakeKMS) wrap(t *testing.T, ctx map[string]string) (key, blob []byte) {
	key, blob = make([]byte, 64), make([]byte, 40)
	rand.Read(key)
	rand.Read(blob)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]fakeKey{}
	}
	f.keys[string(blob)] = fakeKey{bytes.Clone(key), ctx}
	return key, blob
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	k, ok := f.keys[string(in.CiphertextBlob)]
	if !ok || !maps.Equal(k.ctx, in.EncryptionContext) {
		return nil, &smithy.GenericAPIError{Code: "InvalidCiphertextException", Message: "no"}
	}
	return &kms.DecryptOutput{Plaintext: bytes.Clone(k.key)}, nil
}

// fakeTable serves items two per Scan page.
type fakeTable struct {
	items []map[string]types.AttributeValue
	scans int
}

func (f *fakeTable) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if aws.ToString(in.TableName) != "credential-store" || !aws.ToBool(in.ConsistentRead) {
		return nil, fmt.Errorf("unexpected scan of %q (consistent %v)", aws.ToString(in.TableName), aws.ToBool(in.ConsistentRead))
	}
	f.scans++
	start := 0
	if in.ExclusiveStartKey != nil {
		fmt.Sscan(in.ExclusiveStartKey["i"].(*types.AttributeValueMemberN).Value, &start)
	}
	end := min(start+2, len(f.items))
	out := &dynamodb.ScanOutput{Items: f.items[start:end]}
	if end < len(f.items) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"i": &types.AttributeValueMemberN{Value: fmt.Sprint(end)}}
	}
	return out, nil
}

func put(t *testing.T, k *fakeKMS, tbl *fakeTable, ctx map[string]string, name string, version int, value string) map[string]types.AttributeValue {
	key, blob := k.wrap(t, ctx)
	it := CredstashItem(name, CredstashVersion(version), []byte(value), key, blob)
	tbl.items = append(tbl.items, it)
	return it
}

func summary(r *Result) (secrets []string, failures []string) {
	for _, s := range r.Secrets {
		secrets = append(secrets, fmt.Sprintf("%s/%s=%s", s.Service, s.User, s.Value))
	}
	for _, f := range r.Failures {
		failures = append(failures, f.Source)
	}
	return secrets, failures
}

func TestReadCredstash(t *testing.T) {
	ctx := map[string]string{"env": "prod"}
	build := func(t *testing.T) (*fakeKMS, *fakeTable) {
		k, tbl := &fakeKMS{}, &fakeTable{}
		put(t, k, tbl, ctx, "db.alice", 1, "one")
		put(t, k, tbl, ctx, "db.alice", 2, "two")
		put(t, k, tbl, ctx, "db.alice", 10, "ten") // sorts after 2 only because it is padded
		put(t, k, tbl, ctx, "api.token", 1, "tok")
		bad := put(t, k, tbl, ctx, "db.bob", 1, "bob")
		bad["hmac"] = &types.AttributeValueMemberS{Value: strings.Repeat("00", 32)}
		put(t, k, tbl, map[string]string{"env": "dev"}, "db.carol", 1, "carol")
		put(t, k, tbl, ctx, "nodot", 1, "x")
		return k, tbl
	}
	tests := []struct {
		name         string
		opts         CredstashOptions
		wantSecrets  []string
		wantFailures []string
		wantCalls    int
	}{
		{
			name:         "latest, split at the dot",
			opts:         CredstashOptions{Context: ctx, Map: SplitAt(".")},
			wantSecrets:  []string{"api/token=tok", "db/alice=ten"},
			wantFailures: []string{"credstash db.bob version 0000000000000000001", "credstash db.carol version 0000000000000000001", "credstash nodot version 0000000000000000001"},
			wantCalls:    4,
		},
		{
			name:         "all versions into one service",
			opts:         CredstashOptions{Context: ctx, Map: IntoService("legacy"), AllVersions: true},
			wantSecrets:  []string{"legacy/api.token=tok", "legacy/db.alice=one", "legacy/db.alice=two", "legacy/db.alice=ten", "legacy/nodot=x"},
			wantFailures: []string{"credstash db.bob version 0000000000000000001", "credstash db.carol version 0000000000000000001"},
			wantCalls:    7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, tbl := build(t)
			r, err := ReadCredstash(context.Background(), tbl, k, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			secrets, failures := summary(r)
			if fmt.Sprint(secrets) != fmt.Sprint(tt.wantSecrets) {
				t.Errorf("secrets %v, want %v", secrets, tt.wantSecrets)
			}
			if fmt.Sprint(failures) != fmt.Sprint(tt.wantFailures) {
				t.Errorf("failures %v, want %v", failures, tt.wantFailures)
			}
			if k.calls != tt.wantCalls {
				t.Errorf("%d KMS calls, want %d", k.calls, tt.wantCalls)
			}
			if tbl.scans != 4 {
				t.Errorf("%d scans, want 4 (7 items, 2 a page)", tbl.scans)
			}
			for _, f := range r.Failures {
				if strings.Contains(f.Err.Error(), "bob") || strings.Contains(f.Err.Error(), "carol") {
					t.Errorf("failure %v shows a secret", f)
				}
				switch {
				case strings.Contains(f.Source, "db.bob"):
					if !errors.Is(f.Err, ErrVerify) || !strings.Contains(f.Err.Error(), "HMAC") {
						t.Errorf("db.bob: %v, want an HMAC ErrVerify", f.Err)
					}
				case strings.Contains(f.Source, "db.carol"):
					if !errors.Is(f.Err, ErrVerify) || !strings.Contains(f.Err.Error(), "InvalidCiphertextException") {
						t.Errorf("db.carol: %v, want a KMS ErrVerify", f.Err)
					}
				case strings.Contains(f.Source, "nodot"):
					if !errors.Is(f.Err, ErrName) {
						t.Errorf("nodot: %v, want ErrName", f.Err)
					}
				}
			}
		})
	}
}

// TestReadCredstashHistoryWhole checks that a damaged version keeps every
// version of its name out with --all-versions, and only its own otherwise.
func TestReadCredstashHistoryWhole(t *testing.T) {
	k, tbl := &fakeKMS{}, &fakeTable{}
	put(t, k, tbl, nil, "db.alice", 1, "one")
	bad := put(t, k, tbl, nil, "db.alice", 2, "two")
	bad["contents"] = &types.AttributeValueMemberS{Value: "AAAA"}
	put(t, k, tbl, nil, "db.alice", 3, "three")
	for _, all := range []bool{false, true} {
		r, err := ReadCredstash(context.Background(), tbl, k, CredstashOptions{Map: SplitAt("."), AllVersions: all})
		if err != nil {
			t.Fatal(err)
		}
		secrets, failures := summary(r)
		if all && (len(secrets) != 0 || len(failures) != 3) {
			t.Errorf("all versions: secrets %v failures %v, want none and 3", secrets, failures)
		}
		if !all && (fmt.Sprint(secrets) != "[db/alice=three]" || len(failures) != 0) {
			t.Errorf("latest: secrets %v failures %v, want db/alice=three only", secrets, failures)
		}
	}
}

// TestReadCredstashOutage checks that a KMS failure that is not an item's
// own stops the read instead of being reported as a bad item.
func TestReadCredstashOutage(t *testing.T) {
	k, tbl := &fakeKMS{}, &fakeTable{}
	put(t, k, tbl, nil, "db.alice", 1, "one")
	k.err = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	_, err := ReadCredstash(context.Background(), tbl, k, CredstashOptions{Map: SplitAt(".")})
	if err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("err = %v, want the throttling error", err)
	}
}

func TestParseCredstashItem(t *testing.T) {
	good := func() map[string]types.AttributeValue {
		return CredstashItem("n", CredstashVersion(1), []byte("v"), make([]byte, 64), []byte("blob"))
	}
	tests := []struct {
		name   string
		change func(map[string]types.AttributeValue)
		want   string // "" for no error
	}{
		{"good", func(map[string]types.AttributeValue) {}, ""},
		{"hmac as a string", func(m map[string]types.AttributeValue) {
			m["hmac"] = &types.AttributeValueMemberS{Value: string(m["hmac"].(*types.AttributeValueMemberB).Value)}
		}, ""},
		{"no digest means SHA256", func(m map[string]types.AttributeValue) { delete(m, "digest") }, ""},
		{"no name", func(m map[string]types.AttributeValue) { delete(m, "name") }, "name"},
		{"no version", func(m map[string]types.AttributeValue) { delete(m, "version") }, "version"},
		{"key not base64", func(m map[string]types.AttributeValue) { m["key"] = &types.AttributeValueMemberS{Value: "!!"} }, "key is not base64"},
		{"contents not base64", func(m map[string]types.AttributeValue) { m["contents"] = &types.AttributeValueMemberS{Value: "!!"} }, "contents"},
		{"hmac not hex", func(m map[string]types.AttributeValue) { m["hmac"] = &types.AttributeValueMemberS{Value: "zz"} }, "hex"},
		{"hmac missing", func(m map[string]types.AttributeValue) { delete(m, "hmac") }, "hmac"},
		{"unknown digest", func(m map[string]types.AttributeValue) {
			m["digest"] = &types.AttributeValueMemberS{Value: "WHIRLPOOL"}
		}, "unknown digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(m)
			_, err := parseCredstashItem(m)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrFormat)):
				t.Fatalf("err = %v, want ErrFormat about %q", err, tt.want)
			}
		})
	}
}

// TestCredstashKnownAnswer checks the format against a vector computed with
// credstash's own primitives (Python cryptography: AES-256-CTR with the
// counter block 0...01, HMAC-SHA256 over the ciphertext), for the key bytes
// 0, 1, ..., 63 and the secret "hunter2".
func TestCredstashKnownAnswer(t *testing.T) {
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(i)
	}
	it := CredstashItem("n", "v", []byte("hunter2"), key, []byte("blob"))
	gotCT := it["contents"].(*types.AttributeValueMemberS).Value
	gotMAC := string(it["hmac"].(*types.AttributeValueMemberB).Value)
	const wantCT, wantMAC = credstashVectorCT, credstashVectorMAC
	if gotCT != wantCT || gotMAC != wantMAC {
		t.Fatalf("contents %s hmac %s, want %s %s", gotCT, gotMAC, wantCT, wantMAC)
	}
}

type fakeSSM struct {
	params []ssmtypes.Parameter
	calls  int
}

func (f *fakeSSM) GetParametersByPath(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	if !aws.ToBool(in.Recursive) || !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("want Recursive and WithDecryption")
	}
	f.calls++
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	var page []ssmtypes.Parameter
	i := start
	for ; i < len(f.params) && len(page) < 2; i++ {
		if strings.HasPrefix(aws.ToString(f.params[i].Name), strings.TrimSuffix(aws.ToString(in.Path), "/")+"/") {
			page = append(page, f.params[i])
		}
	}
	out := &ssm.GetParametersByPathOutput{Parameters: page}
	if i < len(f.params) {
		out.NextToken = aws.String(fmt.Sprint(i))
	}
	return out, nil
}

func TestReadSSM(t *testing.T) {
	p := func(name string, typ ssmtypes.ParameterType, value string) ssmtypes.Parameter {
		return ssmtypes.Parameter{Name: aws.String(name), Type: typ, Value: aws.String(value)}
	}
	f := &fakeSSM{params: []ssmtypes.Parameter{
		p("/app/db/password", ssmtypes.ParameterTypeSecureString, "s3cret"),
		p("/app/db/host", ssmtypes.ParameterTypeString, "db.internal"),
		p("/app/api/hosts", ssmtypes.ParameterTypeStringList, "a,b"),
		p("/app/lonely", ssmtypes.ParameterTypeString, "x"),
		p("/app/deep/er/key", ssmtypes.ParameterTypeString, "deep"),
		p("/other/x/y", ssmtypes.ParameterTypeString, "not mine"),
	}}
	tests := []struct {
		opts                      SSMOptions
		wantSecrets, wantFailures string
	}{
		{SSMOptions{Path: "/app/"}, "[api/hosts=a,b db/host=db.internal db/password=s3cret deep/er/key=deep]", "[ssm /app/lonely]"},
		{SSMOptions{Path: "/app", Service: "S"}, "[S/api/hosts=a,b S/db/host=db.internal S/db/password=s3cret S/deep/er/key=deep S/lonely=x]", "[]"},
		{SSMOptions{Path: "/app/db/", Service: "db"}, "[db/host=db.internal db/password=s3cret]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.opts.Path+tt.opts.Service, func(t *testing.T) {
			r, err := ReadSSM(context.Background(), f, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, fl := summary(r)
			if fmt.Sprint(s) != tt.wantSecrets || fmt.Sprint(fl) != tt.wantFailures {
				t.Errorf("got %v %v, want %s %s", s, fl, tt.wantSecrets, tt.wantFailures)
			}
		})
	}
}

type fakeSM struct {
	secrets map[string]*secretsmanager.GetSecretValueOutput
	names   []string
}

func (f *fakeSM) ListSecrets(_ context.Context, in *secretsmanager.ListSecretsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	var out secretsmanager.ListSecretsOutput
	for _, n := range f.names {
		// The server's filter ignores case, as AWS's does.
		if len(in.Filters) == 1 && !strings.HasPrefix(strings.ToLower(n), strings.ToLower(in.Filters[0].Values[0])) {
			continue
		}
		out.SecretList = append(out.SecretList, smtypes.SecretListEntry{Name: aws.String(n)})
	}
	return &out, nil
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	switch aws.ToString(in.SecretId) {
	case "prod/gone":
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException"}
	case "zzz/outage":
		return nil, &smithy.GenericAPIError{Code: "InternalServiceError"}
	}
	return f.secrets[aws.ToString(in.SecretId)], nil
}

func TestReadSecretsManager(t *testing.T) {
	str := func(s string) *secretsmanager.GetSecretValueOutput {
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s)}
	}
	f := &fakeSM{secrets: map[string]*secretsmanager.GetSecretValueOutput{
		"prod/db":     str(`{"username": "admin", "password": "p\u00e4ss", "port": 5432, "tls": {"on": true}}`),
		"prod/token":  str("plain-token"),
		"prod/bin":    {SecretBinary: []byte{0, 1, 2, 255}},
		"prod/empty":  str("{}"),
		"prod/dup":    str(`{"a": "1", "a": "2"}`),
		"Prod/upper":  str("case"),
		"staging/api": str("other"),
	}}
	for n := range f.secrets {
		f.names = append(f.names, n)
	}
	f.names = append(f.names, "prod/gone", "zzz/outage")
	tests := []struct {
		opts                      SecretsManagerOptions
		wantSecrets, wantFailures string
	}{
		{SecretsManagerOptions{Prefix: "prod/"},
			`[prod/bin/value=` + "\x00\x01\x02\xff" + ` prod/db/username=admin prod/db/password=päss prod/db/port=5432 prod/db/tls={"on":true} prod/empty/value={} prod/token/value=plain-token]`,
			"[secretsmanager prod/dup secretsmanager prod/gone]"},
		{SecretsManagerOptions{Prefix: "prod/t", Service: "S"}, "[S/prod/token=plain-token]", "[]"},
	}
	if _, err := ReadSecretsManager(context.Background(), f, SecretsManagerOptions{Prefix: "zzz/"}); err == nil || !strings.Contains(err.Error(), "InternalServiceError") {
		t.Errorf("an outage: err = %v, want it to stop the read", err)
	}
	for _, tt := range tests {
		t.Run(tt.opts.Prefix+tt.opts.Service, func(t *testing.T) {
			r, err := ReadSecretsManager(context.Background(), f, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, fl := summary(r)
			if fmt.Sprint(s) != tt.wantSecrets || fmt.Sprint(fl) != tt.wantFailures {
				t.Errorf("got\n%q %v, want\n%q %s", fmt.Sprint(s), fl, tt.wantSecrets, tt.wantFailures)
			}
		})
	}
}

func TestJSONObject(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		fields string
	}{
		{`{"a":"x"}`, true, `a=x`},
		{` {"a":1.50,"b":null} `, true, `a=1.50 b=null`},
		{`{}`, false, ``},
		{`["a"]`, false, ``},
		{`{"a":`, false, ``},
		{`"str"`, false, ``},
	}
	for _, tt := range tests {
		fields, ok, err := jsonObject(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		var parts []string
		for _, f := range fields {
			parts = append(parts, f.key+"="+string(f.value))
		}
		if ok != tt.ok || strings.Join(parts, " ") != tt.fields {
			t.Errorf("%s: %v %v, want %v %s", tt.in, ok, parts, tt.ok, tt.fields)
		}
	}
	if !json.Valid([]byte(`{"a":"1","a":"2"}`)) {
		t.Fatal("encoding/json no longer accepts duplicate keys; the duplicate check needs another look")
	}
}

// The known answer of TestCredstashKnownAnswer, from Python's cryptography
// package with credstash's _seal_aes_ctr steps.
const (
	credstashVectorCT  = "mCgY2i/LrQ=="
	credstashVectorMAC = "616e8a0375ea6bafe9fa59775b40795ac225db317a21fa636c747ab2333f7755"
)
