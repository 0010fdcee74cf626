package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/internal/ststest"
)

// callerARN is the identity the STS test server reports.
const callerARN = "arn:aws:iam::123456789012:user/alice"

// awsServers are the real DynamoDB-compatible server and the KMS and STS
// test servers, shared by the AWS tests of this binary.
type awsServers struct {
	dynamo  string
	kms     *kmstest.Server
	sts     *ststest.Server
	ddb     *dynamodb.Client
	started bool
}

var (
	awsOnce sync.Mutex
	shared  awsServers
)

func startAWS(t *testing.T) *awsServers {
	t.Helper()
	awsOnce.Lock()
	defer awsOnce.Unlock()
	if !shared.started {
		shared.dynamo = dynalitetest.Start(t)
		shared.kms = kmstest.New()
		shared.kms.CreateKey("cloudchain")
		shared.sts = ststest.New(callerARN)
		shared.ddb = dynalitetest.NewClient(t, shared.dynamo)
		shared.started = true
		stopServers = func() {
			shared.kms.Close()
			shared.sts.Close()
			dynalitetest.Stop()
		}
	}
	return &shared
}

// awsEnv writes a config file, as a team would, that points cchain at the
// test servers and a fresh table, and returns the environment a cchain
// process needs besides it.
func (s *awsServers) writeConfig(t testing.TB, dir, table string, extra string) string {
	return writeAWSConfig(t, dir, s.dynamo, table, s.kms.URL(), extra)
}

func writeAWSConfig(t testing.TB, dir, dynamo, table, kmsURL, extra string) string {
	cfg := fmt.Sprintf(`[dynamo]
region_name = us-east-1
endpoint_url = %s
tablename = %s

[IAMKMS]
keyalias = alias/cloudchain

[kms]
endpoint_url = %s
%s`, dynamo, table, kmsURL, extra)
	path := filepath.Join(dir, ".cchainrc")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *awsServers) env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           kmstest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       kmstest.SecretAccessKey,
		"AWS_ENDPOINT_URL_STS":        s.sts.URL(),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_DYNAMODB":   "",
		"AWS_ENDPOINT_URL_KMS":        "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
		"AWS_SESSION_TOKEN":           "",
		"CLOUDCHAIN_DATA_DIR":         "",
		"CLOUDCHAIN_BACKEND":          "",
		"CLOUDCHAIN_TABLE":            "",
		"CLOUDCHAIN_KMS_KEY":          "",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/cchain-test-credentials",
		"AWS_CONFIG_FILE":             "/nonexistent/cchain-test-config",
	}
}

func TestScriptsAWS(t *testing.T) {
	s := startAWS(t)
	n := 0
	var mu sync.Mutex
	testscript.Run(t, testscript.Params{
		Dir: "testdata/aws",
		Setup: func(e *testscript.Env) error {
			if err := setupEnv(e); err != nil {
				return err
			}
			mu.Lock()
			n++
			table := fmt.Sprintf("%s-%d", dynalitetest.TableName(t), n)
			mu.Unlock()
			for k, v := range s.env() {
				e.Setenv(k, v)
			}
			// Each script has its own KMS server, so that its request
			// counts and faults are its own.
			k := kmstest.New()
			e.Defer(k.Close)
			e.Values[kmsKey{}] = k
			e.Setenv("TABLE", table)
			e.Setenv("KMS_KEY_ARN", k.CreateKey("cloudchain"))
			writeAWSConfig(t, filepath.Join(e.WorkDir, "home"), s.dynamo, table, k.URL(), "")
			return nil
		},
		Cmds:                awsCmds(s),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

type kmsKey struct{}

func scriptKMS(ts *testscript.TestScript) *kmstest.Server {
	return ts.Value(kmsKey{}).(*kmstest.Server)
}

func awsCmds(s *awsServers) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	ctx := context.Background()
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// legacyput SERVICE USER SECRET writes an item exactly as the
		// Python tool did: KMS Encrypt with the constant context, base64,
		// PutItem of Service, Username and Secret only.
		"legacyput": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 {
				ts.Fatalf("usage: legacyput SERVICE USER SECRET")
			}
			out, err := scriptKMSClient(ts).Encrypt(ctx, &kms.EncryptInput{
				KeyId: aws.String("alias/cloudchain"), Plaintext: []byte(args[2]),
				EncryptionContext: cloudchain.LegacyContext(),
			})
			ts.Check(err)
			_, err = s.ddb.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(ts.Getenv("TABLE")),
				Item: map[string]types.AttributeValue{
					"Service":  &types.AttributeValueMemberS{Value: args[0]},
					"Username": &types.AttributeValueMemberS{Value: args[1]},
					"Secret":   &types.AttributeValueMemberS{Value: base64.StdEncoding.EncodeToString(out.CiphertextBlob)},
				},
			})
			ts.Check(err)
		},
		// legacyread SERVICE USER reads an item as the Python tool did and
		// prints the secret; it fails where the Python tool would crash.
		"legacyread": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: legacyread SERVICE USER")
			}
			out, err := s.ddb.GetItem(ctx, &dynamodb.GetItemInput{
				TableName: aws.String(ts.Getenv("TABLE")),
				Key: map[string]types.AttributeValue{
					"Service":  &types.AttributeValueMemberS{Value: args[0]},
					"Username": &types.AttributeValueMemberS{Value: args[1]},
				},
			})
			ts.Check(err)
			sec, ok := out.Item["Secret"].(*types.AttributeValueMemberS)
			if !ok {
				if neg {
					return
				}
				ts.Fatalf("item has no Secret attribute: the Python client cannot read it")
			}
			blob, err := base64.StdEncoding.DecodeString(sec.Value)
			ts.Check(err)
			dec, err := scriptKMSClient(ts).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: cloudchain.LegacyContext()})
			ts.Check(err)
			if neg {
				ts.Fatalf("the Python client could read the item")
			}
			fmt.Fprintf(ts.Stdout(), "%s\n", dec.Plaintext)
		},
		// kmsreset zeroes the KMS request counts.
		"kmsreset": func(ts *testscript.TestScript, neg bool, args []string) { scriptKMS(ts).ResetCounts() },
		// kmscount OP N checks how many OP requests KMS has served.
		"kmscount": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: kmscount OP N")
			}
			want, err := strconv.Atoi(args[1])
			ts.Check(err)
			if got := scriptKMS(ts).Count(args[0]); got != want {
				ts.Fatalf("KMS served %d %s requests, want %d (all: %v)", got, args[0], want, scriptKMS(ts).Counts())
			}
		},
		// kmsfault OP N TYPE makes the next N OP requests fail with TYPE
		// (ThrottlingException, AccessDeniedException, ...).
		"kmsfault": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 {
				ts.Fatalf("usage: kmsfault OP N TYPE")
			}
			n, err := strconv.Atoi(args[1])
			ts.Check(err)
			if args[2] == "ThrottlingException" {
				scriptKMS(ts).Throttle(args[0], n)
			} else {
				scriptKMS(ts).Fail(args[0], n, args[2], 400)
			}
		},
		"kmsclear": func(ts *testscript.TestScript, neg bool, args []string) { scriptKMS(ts).ClearFaults() },
	}
}

func TestConcurrentProcessesDynamoDB(t *testing.T) {
	s := startAWS(t)
	dir := t.TempDir()
	cfg := s.writeConfig(t, dir, dynalitetest.TableName(t), "[cloudchain]\nauthor_lookup = false\n")
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg}
	for k, v := range s.env() {
		env = append(env, k+"="+v)
	}
	if _, errOut, code := cchainProcess(t, context.Background(), env, "", "setup"); code != 0 {
		t.Fatalf("setup: %s", errOut)
	}
	testConcurrentProcesses(t, env, 20)
}
