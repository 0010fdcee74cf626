package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/internal/migrate"
	"github.com/cloudchain/cloudchain/internal/mototest"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// credstashTableKey holds the DynamoDB client that reaches a script's
// credstash table.
type credstashTableKey struct{}

// TestScriptsImportFrom runs the scripts of testdata/import, which write
// credstash items (and, on moto, SSM parameters and Secrets Manager secrets)
// and import them: on dynalite with the KMS test server, and on moto.
// Scripts that need SSM or Secrets Manager run on moto only ([moto]).
func TestScriptsImportFrom(t *testing.T) {
	var n int
	var mu sync.Mutex
	table := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("%s-%d", dynalitetest.TableName(t), n)
	}
	t.Run("dynalite", func(t *testing.T) {
		s := startAWS(t)
		testscript.Run(t, testscript.Params{
			Dir: "testdata/import",
			Setup: func(e *testscript.Env) error {
				if err := setupEnv(e); err != nil {
					return err
				}
				for k, v := range s.env() {
					e.Setenv(k, v)
				}
				k := kmstest.New()
				e.Defer(k.Close)
				e.Values[kmsKey{}] = k
				tbl := table()
				e.Setenv("TABLE", tbl)
				e.Setenv("KMS_KEY_ARN", k.CreateKey("cloudchain"))
				k.CreateKey("credstash")
				writeAWSConfig(t, filepath.Join(e.WorkDir, "home"), s.dynamo, tbl, k.URL(), "")
				return setupCredstash(e, s.ddb, tbl)
			},
			Cmds:                importCmds(),
			Condition:           func(cond string) (bool, error) { return cond == "dynalite", nil },
			RequireExplicitExec: true,
			RequireUniqueNames:  true,
		})
	})
	t.Run("moto", func(t *testing.T) {
		m := startMoto(t)
		testscript.Run(t, testscript.Params{
			Dir: "testdata/import",
			Setup: func(e *testscript.Env) error {
				tbl := table()
				acct, err := setupMotoScript(t, m, e, tbl)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := mototest.NewKey(ctx, scriptKMSFromEnv(e), "alias/credstash"); err != nil {
					return err
				}
				e.Values[ssmKey{}] = ssm.NewFromConfig(mototest.ClientConfig(acct.URL))
				e.Values[smKey{}] = secretsmanager.NewFromConfig(mototest.ClientConfig(acct.URL))
				return setupCredstash(e, m.ddb, tbl)
			},
			Cmds:                importCmds(),
			Condition:           func(cond string) (bool, error) { return cond == "moto", nil },
			RequireExplicitExec: true,
			RequireUniqueNames:  true,
		})
	})
}

type (
	ssmKey struct{}
	smKey  struct{}
)

func scriptKMSFromEnv(e *testscript.Env) *kms.Client { return e.Values[motoKMSKey{}].(*kms.Client) }

// setupCredstash creates the script's credstash table, in credstash's
// schema, named $CREDSTASH_TABLE.
func setupCredstash(e *testscript.Env, db *dynamodb.Client, table string) error {
	name := "credstash-" + table
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("name"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("version"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("name"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("version"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("creating the credstash table: %w", err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 20*time.Second); err != nil {
		return err
	}
	e.Values[credstashTableKey{}] = db
	e.Setenv("CREDSTASH_TABLE", name)
	return nil
}

func importCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	ctx := context.Background()
	table := func(ts *testscript.TestScript) *dynamodb.Client {
		return ts.Value(credstashTableKey{}).(*dynamodb.Client)
	}
	itemKey := func(ts *testscript.TestScript, name, version string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"name":    &types.AttributeValueMemberS{Value: name},
			"version": &types.AttributeValueMemberS{Value: migrate.CredstashVersion(atoi(ts, version))},
		}
	}
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// credstash-put NAME VERSION VALUE [KEY=VALUE ...] stores an item
		// as credstash's putSecret does: a 64-byte data key from KMS
		// GenerateDataKey under alias/credstash with the context given,
		// AES-256-CTR, HMAC-SHA256, hex HMAC as a binary attribute.
		"credstash-put": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) < 3 {
				ts.Fatalf("usage: credstash-put NAME VERSION VALUE [KEY=VALUE ...]")
			}
			encCtx := map[string]string{}
			for _, p := range args[3:] {
				k, v, _ := strings.Cut(p, "=")
				encCtx[k] = v
			}
			if len(encCtx) == 0 {
				encCtx = nil
			}
			dk, err := scriptKMSClient(ts).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
				KeyId: aws.String("alias/credstash"), NumberOfBytes: aws.Int32(64), EncryptionContext: encCtx,
			})
			ts.Check(err)
			item := migrate.CredstashItem(args[0], migrate.CredstashVersion(atoi(ts, args[1])), []byte(args[2]), dk.Plaintext, dk.CiphertextBlob)
			_, err = table(ts).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(ts.Getenv("CREDSTASH_TABLE")), Item: item})
			ts.Check(err)
		},
		// credstash-tamper NAME VERSION replaces the item's HMAC.
		"credstash-tamper": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: credstash-tamper NAME VERSION")
			}
			_, err := table(ts).UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(ts.Getenv("CREDSTASH_TABLE")),
				Key:                       itemKey(ts, args[0], args[1]),
				UpdateExpression:          aws.String("SET hmac = :h"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: strings.Repeat("ab", 32)}},
			})
			ts.Check(err)
		},
		// ssm-put NAME TYPE VALUE writes an SSM parameter (moto only).
		"ssm-put": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 {
				ts.Fatalf("usage: ssm-put NAME TYPE VALUE")
			}
			_, err := ts.Value(ssmKey{}).(*ssm.Client).PutParameter(ctx, &ssm.PutParameterInput{
				Name: aws.String(args[0]), Type: ssmtypes.ParameterType(args[1]), Value: aws.String(args[2]), Overwrite: aws.Bool(true),
			})
			ts.Check(err)
		},
		// sm-put NAME VALUE creates or updates a string secret, sm-put-hex
		// NAME HEX a binary one (moto only).
		"sm-put": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: sm-put NAME VALUE")
			}
			smPut(ts, args[0], &args[1], nil)
		},
		"sm-put-hex": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: sm-put-hex NAME HEX")
			}
			b, err := hex.DecodeString(args[1])
			ts.Check(err)
			smPut(ts, args[0], nil, b)
		},
		// stdout-hex HEX checks the last command's stdout byte for byte.
		"stdout-hex": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 1 {
				ts.Fatalf("usage: stdout-hex HEX")
			}
			want, err := hex.DecodeString(args[0])
			ts.Check(err)
			if got := []byte(ts.ReadFile("stdout")); !bytes.Equal(got, want) {
				ts.Fatalf("stdout is %x, want %x", got, want)
			}
		},
	}
}

func smPut(ts *testscript.TestScript, name string, str *string, bin []byte) {
	ctx := context.Background()
	c := ts.Value(smKey{}).(*secretsmanager.Client)
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: str, SecretBinary: bin})
	if err == nil {
		return
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: str, SecretBinary: bin})
	ts.Check(err)
}

func atoi(ts *testscript.TestScript, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		ts.Fatalf("%q is not a number", s)
	}
	return n
}

// TestRunImportFromVersions checks the write side on the memory backend:
// versions are written oldest first as successive versions, a second run
// writes nothing, failures are reported and not written, and a dry run
// writes nothing.
func TestRunImportFromVersions(t *testing.T) {
	ctx := context.Background()
	st := cloudchain.New(memory.New(), testkeys.New("k"))
	res := func() *migrate.Result {
		return &migrate.Result{
			Secrets: []migrate.Secret{
				{Service: "db", User: "alice", Value: []byte("one"), Source: "credstash db.alice version 1"},
				{Service: "db", User: "alice", Value: []byte("two"), Source: "credstash db.alice version 2"},
				{Service: "db", User: "alice", Value: []byte("three"), Source: "credstash db.alice version 3"},
				{Service: "db", User: "bob", Value: []byte("b"), Source: "credstash db.bob version 1"},
				{Service: "api", User: "token", Value: []byte("t"), Source: "credstash api.token version 1"},
			},
			Failures: []migrate.Failure{{Source: "credstash db.carol version 1", Err: fmt.Errorf("%w: the HMAC does not match the contents", migrate.ErrVerify)}},
		}
	}
	tests := []struct {
		name    string
		dryRun  bool
		want    string
		history int
	}{
		{"dry run", true, "would be created db/alice version 1 from credstash db.alice version 3 (and 2 earlier)\n" +
			"would be created db/bob version 1 from credstash db.bob version 1\n" +
			"would be created api/token version 1 from credstash api.token version 1\n" +
			"failed credstash db.carol version 1: verification failed: the HMAC does not match the contents\n" +
			"dry run, nothing was written: 3 created, 0 updated, 0 unchanged, 1 failed\n", 0},
		{"first", false, "created db/alice version 1 from credstash db.alice version 1\n" +
			"created db/bob version 1 from credstash db.bob version 1\n" +
			"updated db/alice version 2 from credstash db.alice version 2\n" +
			"updated db/alice version 3 from credstash db.alice version 3\n" +
			"created api/token version 1 from credstash api.token version 1\n" +
			"failed credstash db.carol version 1: verification failed: the HMAC does not match the contents\n" +
			"3 created, 2 updated, 0 unchanged, 1 failed\n", 3},
		{"again", false, "unchanged db/alice version 3 from credstash db.alice version 3 (and 2 earlier)\n" +
			"unchanged db/bob version 1 from credstash db.bob version 1\n" +
			"unchanged api/token version 1 from credstash api.token version 1\n" +
			"failed credstash db.carol version 1: verification failed: the HMAC does not match the contents\n" +
			"0 created, 0 updated, 3 unchanged, 1 failed\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runImportFrom(ctx, st, &out, importFromRun{from: "credstash", dryRun: tt.dryRun}, res())
			var failed *importFromFailed
			if !errors.As(err, &failed) || failed.n != 1 {
				t.Fatalf("err = %v, want one failed item", err)
			}
			if out.String() != tt.want {
				t.Errorf("report:\n%s\nwant:\n%s", out.String(), tt.want)
			}
			h, err := st.History(ctx, "db", "alice")
			if tt.history == 0 {
				if !errors.Is(err, cloudchain.ErrNotFound) {
					t.Fatalf("history after a dry run: %v, want not found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != tt.history {
				t.Fatalf("db/alice has %d versions, want %d", len(h), tt.history)
			}
			sec, err := st.Get(ctx, "db", "alice")
			if err != nil || string(sec.Value) != "three" {
				t.Fatalf("db/alice = %q, %v; want three", sec.Value, err)
			}
			if _, err := st.Get(ctx, "db", "carol"); !errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("db/carol: %v, want not found: a failed item must never be written", err)
			}
		})
	}
}
