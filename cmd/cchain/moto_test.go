package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/mototest"
	"github.com/cloudchain/cloudchain/internal/ststest"
)

// motoServers are moto (DynamoDB, KMS, SSM, Secrets Manager) and the STS test
// server, shared by the moto tests of this binary. STS stays the test
// server's, so that scripts see the same caller as on dynalite.
type motoServers struct {
	endpoint string
	ddb      *dynamodb.Client
	sts      *ststest.Server
}

var (
	motoMu     sync.Mutex
	motoShared *motoServers
)

func startMoto(t *testing.T) *motoServers {
	t.Helper()
	endpoint := mototest.Start(t)
	motoMu.Lock()
	defer motoMu.Unlock()
	if motoShared == nil {
		motoShared = &motoServers{
			endpoint: endpoint,
			ddb:      dynamodb.NewFromConfig(mototest.ClientConfig(endpoint)),
			sts:      ststest.New(callerARN),
		}
	}
	return motoShared
}

// motoAccountKey and motoKMSKey hold a script's moto account (a counting,
// fault-injecting proxy with an account of its own, so that its KMS aliases
// are its own) and the KMS client that goes through it.
type (
	motoAccountKey struct{}
	motoKMSKey     struct{}
)

// scriptKMSClient is the KMS client of a script: through its moto account
// when it runs on moto, else its KMS test server's.
func scriptKMSClient(ts *testscript.TestScript) *kms.Client {
	if c, ok := ts.Value(motoKMSKey{}).(*kms.Client); ok {
		return c
	}
	return scriptKMS(ts).NewClient()
}

func scriptAccount(ts *testscript.TestScript) *mototest.Account {
	return ts.Value(motoAccountKey{}).(*mototest.Account)
}

// setupMotoScript points a script at moto: DynamoDB directly (every table
// name is fresh), KMS through an account of the script's own with the key
// alias/cloudchain, STS at the test server.
func setupMotoScript(t *testing.T, m *motoServers, e *testscript.Env, table string) (*mototest.Account, error) {
	if err := setupEnv(e); err != nil {
		return nil, err
	}
	for k, v := range (&awsServers{sts: m.sts}).env() {
		e.Setenv(k, v)
	}
	acct, err := mototest.OpenAccount(m.endpoint)
	if err != nil {
		return nil, err
	}
	e.Defer(acct.Close)
	client := kms.NewFromConfig(mototest.ClientConfig(acct.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arn, err := mototest.NewKey(ctx, client, "alias/cloudchain")
	if err != nil {
		return nil, err
	}
	e.Values[motoAccountKey{}] = acct
	e.Values[motoKMSKey{}] = client
	e.Setenv("TABLE", table)
	e.Setenv("KMS_KEY_ARN", arn)
	e.Setenv("MOTO_ENDPOINT", acct.URL)
	writeAWSConfig(t, filepath.Join(e.WorkDir, "home"), m.endpoint, table, acct.URL, "")
	return acct, nil
}

// TestScriptsAWSMoto runs the CLI's AWS scripts against moto's DynamoDB and
// KMS. Request counts and faults are those of the script's account proxy:
// what the client sent, and errors injected before moto.
func TestScriptsAWSMoto(t *testing.T) {
	m := startMoto(t)
	var n int
	var mu sync.Mutex
	testscript.Run(t, testscript.Params{
		Dir: motoScripts(t, "testdata/aws"),
		Setup: func(e *testscript.Env) error {
			mu.Lock()
			n++
			table := fmt.Sprintf("%s-%d", dynalitetest.TableName(t), n)
			mu.Unlock()
			_, err := setupMotoScript(t, m, e, table)
			return err
		},
		Cmds:                motoCmds(awsCmds(&awsServers{ddb: m.ddb, sts: m.sts})),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// motoEdits are the lines of the AWS scripts that moto answers differently
// from AWS and the KMS test server, each with what moto says instead. The
// scripts run on moto with these lines replaced; a line that is no longer in
// its script fails the test (each edit replaces every occurrence), so that the list stays exact. docs/design-as-built.md's
// "Differences between dynalite, moto and the KMS test server" explains each.
var motoEdits = []struct{ file, old, new, why string }{
	{
		file: "profile_and_key.txtar",
		old:  "stderr 'record was encrypted under a different key'\nstderr 'list it in decrypt_keys in \\[IAMKMS\\]'\n",
		new:  "stderr 'kms:Decrypt on key alias/team-key: access denied'\n",
		why: "moto answers a Decrypt whose KeyId is not the ciphertext's key with AccessDeniedException " +
			"(with no message), where AWS and the KMS test server answer IncorrectKeyException",
	},
	{
		file: "profile_and_key.txtar",
		old:  "stderr 'encrypted under a different key'\n",
		new:  "stderr 'kms:Decrypt on key alias/team-key: access denied'\n",
		why:  "as above: AccessDeniedException for a KeyId that is not the ciphertext's key",
	},
}

// motoScripts copies the scripts of dir into a temporary directory with
// motoEdits applied, and returns it.
func motoScripts(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in %s: %v", dir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, e := range motoEdits {
			if e.file != filepath.Base(f) {
				continue
			}
			if !strings.Contains(text, e.old) {
				t.Fatalf("moto edit of %s: the script no longer has %q; update motoEdits", e.file, e.old)
			}
			text = strings.ReplaceAll(text, e.old, "# On moto: "+e.why+".\n"+e.new)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// motoCmds replaces the KMS test server's counting and fault commands of
// cmds by the moto account proxy's.
func motoCmds(cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds["kmsreset"] = func(ts *testscript.TestScript, neg bool, args []string) { scriptAccount(ts).Reset() }
	cmds["kmscount"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: kmscount OP N")
		}
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		if got := scriptAccount(ts).Count(args[0]); got != want {
			ts.Fatalf("KMS was sent %d %s requests, want %d (all: %v)", got, args[0], want, scriptAccount(ts).Counts())
		}
	}
	cmds["kmsfault"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: kmsfault OP N TYPE")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		scriptAccount(ts).Fail(args[0], n, args[2], 400)
	}
	cmds["kmsclear"] = func(ts *testscript.TestScript, neg bool, args []string) { scriptAccount(ts).ClearFaults() }
	return cmds
}
