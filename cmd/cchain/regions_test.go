package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	ddbbackend "github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/faultproxy"
	"github.com/cloudchain/cloudchain/internal/kmstest"
)

// TestRegionsThroughTheBinary runs the real cchain with a config file that
// names two regions, each a DynamoDB server and a KMS server (a multi-Region
// key), and takes the primary down: get and list keep working through the
// replica, put is refused with the clear error, and --timeout still bounds
// a command whose primary never answers.
// twoRegions is a global table in two regions, each a DynamoDB server and a
// KMS server holding one multi-Region key, with fault proxies in front of
// the primary's servers and the replica's DynamoDB, and a config file
// naming both.
type twoRegions struct {
	s                            *awsServers
	westDDB                      string
	westKMS                      *kmstest.Server
	eastDDBP, eastKMSP, westDDBP *faultproxy.Proxy
	table, dir, cfg, path        string
}

func newTwoRegions(t *testing.T) *twoRegions {
	t.Helper()
	r := &twoRegions{s: startAWS(t), westDDB: dynalitetest.StartPrivate(t)}
	eastKMS := kmstest.NewServer(t)
	r.westKMS = kmstest.NewServer(t, kmstest.WithRegion("us-west-2"))
	arn := eastKMS.CreateMultiRegionKey("cloudchain")
	r.westKMS.ReplicateKey(eastKMS, arn, "cloudchain")
	r.eastDDBP = faultproxy.Start(t, r.s.dynamo)
	r.eastKMSP = faultproxy.Start(t, eastKMS.URL())
	r.westDDBP = faultproxy.Start(t, r.westDDB)
	r.table = dynalitetest.TableName(t)
	r.dir = t.TempDir()
	r.cfg = fmt.Sprintf(`[dynamo]
region_name = us-east-1
endpoint_url = %s
tablename = %s

[IAMKMS]
keyalias = alias/cloudchain

[kms]
endpoint_url = %s

[cloudchain]
author_lookup = false
replica_regions = us-west-2

[region us-west-2]
endpoint_url = %s
kms_endpoint_url = %s
`, r.eastDDBP.URL(), r.table, r.eastKMSP.URL(), r.westDDBP.URL(), r.westKMS.URL())
	r.path = filepath.Join(r.dir, ".cchainrc")
	if err := os.WriteFile(r.path, []byte(r.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// createReplica creates the table in the replica region.
func (r *twoRegions) createReplica(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := ddbbackend.CreateTable(ctx, dynalitetest.NewClient(t, r.westDDB), r.table); err != nil {
		t.Fatal(err)
	}
}

// replicate copies every item of the primary's table to the replica's, as
// the global table does.
func (r *twoRegions) replicate(t *testing.T, ctx context.Context) {
	t.Helper()
	west := dynalitetest.NewClient(t, r.westDDB)
	out, err := r.s.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(r.table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if _, err := west.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRegionsThroughTheBinary(t *testing.T) {
	r := newTwoRegions(t)
	s, westKMS, eastDDBP, eastKMSP, westDDBP, dir, path := r.s, r.westKMS, r.eastDDBP, r.eastKMSP, r.westDDBP, r.dir, r.path
	// Each process here starts afresh (regionstate_test.go covers what
	// processes remember of each other).
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + path, "CLOUDCHAIN_REGION_STATE=off"}
	for k, v := range s.env() {
		env = append(env, k+"="+v)
	}
	ctx := context.Background()
	run := func(stdin string, args ...string) (string, string, int) {
		return cchainProcess(t, ctx, env, stdin, args...)
	}
	if _, errOut, code := run("", "setup"); code != 0 {
		t.Fatalf("setup: %s", errOut)
	}
	r.createReplica(t, ctx)
	for _, u := range []string{"alice", "bob"} {
		if _, errOut, code := run("pw-"+u, "put", "app", u, "-"); code != 0 {
			t.Fatalf("put %s: %s", u, errOut)
		}
	}
	r.replicate(t, ctx)
	if n := westDDBP.Total() + westKMS.Count("Decrypt"); n != 0 {
		t.Fatalf("the replica got %d requests while the primary was up", n)
	}

	// The primary region goes down.
	eastDDBP.Reset()
	eastDDBP.Always("*", faultproxy.Fault{Kind: faultproxy.Reset})
	eastKMSP.Always("*", faultproxy.Fault{Kind: faultproxy.Reset})

	// With cchain's own retry policy (RetryAttempts attempts per region).
	got, errOut, code := run("", "get", "app", "alice", "-n")
	if code != 0 || got != "pw-alice" {
		t.Fatalf("get with the primary down: code %d, %q, %s", code, got, errOut)
	}
	for _, want := range []string{"dynamodb in region us-east-1 did not answer", "kms in region us-east-1 did not answer", "reading from us-west-2 instead"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := eastDDBP.Count("BatchGetItem"); n != 3 {
		t.Errorf("the primary got %d BatchGetItem, want 3 (one get, its retries)", n)
	}
	if n, k := westDDBP.Count("BatchGetItem"), westKMS.Count("Decrypt"); n != 1 || k != 1 {
		t.Errorf("the replica got %d BatchGetItem and %d Decrypt, want 1 and 1", n, k)
	}

	// One attempt per region from here on, to keep the test short.
	env = append(env, "AWS_MAX_ATTEMPTS=1")
	if out, errOut, code := run("", "list", "app"); code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Fatalf("list with the primary down: code %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = run("new", "put", "app", "alice", "-")
	if code == 0 || !strings.Contains(errOut, "writes go to the primary region us-east-1 only") || !strings.Contains(errOut, "last writer wins") {
		t.Fatalf("put with the primary down: code %d, %s", code, errOut)
	}
	if n := westDDBP.Count("PutItem"); n != 0 {
		t.Fatalf("the replica got %d PutItem", n)
	}
	t.Logf("put refused (exit %d): %s", code, errOut)

	// A primary that never answers: --timeout ends the command there.
	eastDDBP.Clear()
	eastDDBP.Always("*", faultproxy.Fault{Kind: faultproxy.Hang})
	westDDBP.Reset()
	_, errOut, code = run("", "get", "app", "bob", "-n", "--timeout", "1s")
	if code != exitUnavailable || !strings.Contains(errOut, "--timeout") {
		t.Fatalf("hung primary with --timeout 1s: code %d, %s", code, errOut)
	}
	if n := westDDBP.Total(); n != 0 {
		t.Fatalf("the replica got %d requests after --timeout", n)
	}
}
