package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

type stack struct {
	store   *cloudchain.Store
	ddb     *dynalitetest.Counter
	kms     *kmstest.Server
	backend *dynamodb.Backend
}

func newStack(t *testing.T, opts ...cloudchain.Option) *stack {
	endpoint := dynalitetest.Start(t)
	client, counter := dynalitetest.NewCountingClient(t, endpoint)
	// The SDK's standard retryer with its default 3 attempts, but a 1 ms
	// backoff, so that throttling tests run fast.
	client = ddb.New(client.Options(), func(o *ddb.Options) { o.Retryer = kmstest.FastRetryer(3) })
	table := dynalitetest.NewTable(t, client)
	k := kmstest.NewServer(t)
	k.CreateKey("cloudchain")
	b := dynamodb.New(client, table, dynamodb.WithPageSize(25))
	st := cloudchain.New(b, awskms.New(k.NewClient(), "alias/cloudchain"), opts...)
	counter.Reset()
	k.ResetCounts()
	return &stack{store: st, ddb: counter, kms: k, backend: b}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// expect checks the requests made since the last check, on both servers.
func (s *stack) expect(t *testing.T, what string, ddb, kms map[string]int) {
	t.Helper()
	got := s.ddb.Operations(t)
	if !maps.Equal(got, ddb) {
		t.Errorf("%s: DynamoDB requests %v, want %v", what, got, ddb)
	}
	if got := s.kms.Counts(); !maps.Equal(got, kms) {
		t.Errorf("%s: KMS requests %v, want %v", what, got, kms)
	}
	s.ddb.Reset()
	s.kms.ResetCounts()
}

// TestRequestBudget asserts the request budget (DESIGN.md, docs/design-as-built.md) exactly, on the wire:
//   - get: one round trip for the secret and its key ring (BatchGetItem) + 1
//     Decrypt of the service key;
//   - put into an existing service: 1 BatchGetItem (the secret, the key ring
//     and the rollback manifest) + 1 Decrypt + 2 PutItems (the secret, then
//     the manifest); the first put into a service adds 1 GenerateDataKey,
//     1 Query (the one-time check for legacy records, which also lists what
//     the first manifest holds) and 2 PutItems (the key ring, created, and
//     then its manifest flag set, once the manifest exists);
//   - a whole service: its Query pages + 1 Decrypt per service key version;
//   - N secrets written at once: the Query pages + 1 KMS call + N PutItems
//   - 1 PutItem for the manifest.
func TestRequestBudget(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "first put into a service", map[string]int{"BatchGetItem": 1, "Query": 1, "PutItem": 4}, map[string]int{"GenerateDataKey": 1})
	if _, err := s.store.Put(ctx, "db", "alice", []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "second put", map[string]int{"BatchGetItem": 1, "PutItem": 2}, map[string]int{"Decrypt": 1})
	if _, err := s.store.Put(ctx, "db", "bob", []byte("battery")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "put of a new user", map[string]int{"BatchGetItem": 1, "PutItem": 2}, map[string]int{"Decrypt": 1})
	sec, err := s.store.Get(ctx, "db", "alice")
	if err != nil || string(sec.Value) != "correct horse" {
		t.Fatalf("Get = %v, %v", sec, err)
	}
	s.expect(t, "get", map[string]int{"BatchGetItem": 1}, map[string]int{"Decrypt": 1})
	if _, err := s.store.GetVersion(ctx, "db", "alice", 1); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "get --version", map[string]int{"BatchGetItem": 1}, map[string]int{"Decrypt": 1})
	hist, err := s.store.History(ctx, "db", "alice")
	if err != nil || len(hist) != 2 || hist[1].Auth != cloudchain.AuthVerified {
		t.Fatalf("History = %+v, %v", hist, err)
	}
	s.expect(t, "history (every version authenticated)", map[string]int{"BatchGetItem": 1}, map[string]int{"Decrypt": 1})
	if _, err := s.store.Delete(ctx, "db", "bob"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "delete (the marker is sealed)", map[string]int{"BatchGetItem": 1, "PutItem": 2}, map[string]int{"Decrypt": 1})

	var values []cloudchain.SecretValue
	for i := range 60 {
		values = append(values, cloudchain.SecretValue{User: fmt.Sprintf("u%02d", i), Value: []byte("v")})
	}
	if _, err := s.store.PutMany(ctx, "bulk", values); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "writing 60 secrets into a new service", map[string]int{"Query": 2, "PutItem": 63}, map[string]int{"GenerateDataKey": 1})
	secs, err := s.store.GetServices(ctx, "bulk")
	if err != nil || len(secs) != 60 {
		t.Fatalf("GetServices: %d, %v", len(secs), err)
	}
	// 60 items, the key ring and the manifest in pages of 25: 3 Query pages; one key.
	s.expect(t, "reading a whole service", map[string]int{"Query": 3}, map[string]int{"Decrypt": 1})
	if _, err := s.store.List(ctx, "bulk"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "list SERVICE (authenticated)", map[string]int{"Query": 3}, map[string]int{"Decrypt": 1})
	for i := range values {
		values[i].Value = []byte("w")
	}
	values = append(values, cloudchain.SecretValue{User: "new", Value: []byte("x")})
	if _, err := s.store.PutMany(ctx, "bulk", values); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "rewriting 61 secrets", map[string]int{"Query": 3, "PutItem": 62}, map[string]int{"Decrypt": 1})
	if _, err := s.store.PutMany(ctx, "bulk", values); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "rewriting 61 unchanged secrets", map[string]int{"Query": 3}, map[string]int{"Decrypt": 1})
}

// TestThousandSecretsOneKMSCall: 1,000 secrets are written and read back
// with one KMS call each way, whatever the page size.
func TestThousandSecretsOneKMSCall(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	var values []cloudchain.SecretValue
	for i := range 1000 {
		values = append(values, cloudchain.SecretValue{User: fmt.Sprintf("user-%04d", i), Value: []byte(fmt.Sprintf("secret-%d", i))})
	}
	if _, err := s.store.PutMany(ctx, "fleet", values); err != nil {
		t.Fatal(err)
	}
	if got := s.kms.Counts(); !maps.Equal(got, map[string]int{"GenerateDataKey": 1}) {
		t.Fatalf("writing 1,000 secrets: KMS requests %v, want one GenerateDataKey", got)
	}
	s.kms.ResetCounts()
	secs, err := s.store.GetServices(ctx, "fleet")
	if err != nil || len(secs) != 1000 || string(secs[999].Value) != "secret-999" {
		t.Fatalf("GetServices: %d, %v", len(secs), err)
	}
	if got := s.kms.Counts(); !maps.Equal(got, map[string]int{"Decrypt": 1}) {
		t.Fatalf("reading 1,000 secrets: KMS requests %v, want one Decrypt", got)
	}
}

// TestAuthorLookupOncePerStore checks that the author is looked up at most
// once, however many puts.
func TestAuthorLookupOncePerStore(t *testing.T) {
	calls := 0
	s := newStack(t, cloudchain.WithAuthor(func(context.Context) (string, error) {
		calls++
		return "arn:aws:iam::123456789012:user/alice", nil
	}))
	ctx := ctxFor(t)
	for i := range 3 {
		if _, err := s.store.Put(ctx, "db", "alice", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("author looked up %d times, want 1", calls)
	}
	sec, err := s.store.Get(ctx, "db", "alice")
	if err != nil || sec.Author != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("Get = %+v, %v", sec, err)
	}
}

// TestEncryptionContextEnforced: a service key wrapped for one service
// cannot be unwrapped for another, by KMS itself (not only by the key ring's
// MAC or the records' binding).
func TestEncryptionContextEnforced(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	for _, svc := range []string{"prod", "dev"} {
		if _, err := s.store.Put(ctx, svc, "alice", []byte(svc+"-secret")); err != nil {
			t.Fatal(err)
		}
	}
	prodRing, err := s.backend.Load(ctx, "prod", cloudchain.ServiceKeyUser)
	if err != nil {
		t.Fatal(err)
	}
	devRing, err := s.backend.Load(ctx, "dev", cloudchain.ServiceKeyUser)
	if err != nil {
		t.Fatal(err)
	}
	moved := &cloudchain.Item{Service: "dev", User: cloudchain.ServiceKeyUser, Records: prodRing.Records}
	if _, err := s.backend.Save(ctx, devRing, moved); err != nil {
		t.Fatal(err)
	}
	s.kms.ResetCounts()
	_, err = s.store.Get(ctx, "dev", "alice")
	if !errors.Is(err, cloudchain.ErrAuthentication) || !strings.Contains(err.Error(), "unwrapping service key") {
		t.Fatalf("reading dev with prod's key ring: err = %v, want KMS to refuse the unwrap", err)
	}
	if got := s.kms.Counts(); got["Decrypt"] != 1 {
		t.Fatalf("KMS requests %v, want the one Decrypt that KMS refused", got)
	}
}
