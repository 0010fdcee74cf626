package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	if got := s.ddb.Counts(); !maps.Equal(got, ddb) {
		t.Errorf("%s: DynamoDB requests %v, want %v", what, got, ddb)
	}
	if got := s.kms.Counts(); !maps.Equal(got, kms) {
		t.Errorf("%s: KMS requests %v, want %v", what, got, kms)
	}
	s.ddb.Reset()
	s.kms.ResetCounts()
}

// TestRequestBudget asserts DESIGN.md's budget exactly, on the wire:
// get = 1 GetItem + 1 Decrypt; put = 1 GetItem + 1 GenerateDataKey + 1
// conditional PutItem; a whole service = Query pages + 1 Decrypt per key.
func TestRequestBudget(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "first put", map[string]int{"GetItem": 1, "PutItem": 1}, map[string]int{"GenerateDataKey": 1})
	if _, err := s.store.Put(ctx, "db", "alice", []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "second put", map[string]int{"GetItem": 1, "PutItem": 1}, map[string]int{"GenerateDataKey": 1})
	sec, err := s.store.Get(ctx, "db", "alice")
	if err != nil || string(sec.Value) != "correct horse" {
		t.Fatalf("Get = %v, %v", sec, err)
	}
	s.expect(t, "get", map[string]int{"GetItem": 1}, map[string]int{"Decrypt": 1})
	if _, err := s.store.GetVersion(ctx, "db", "alice", 1); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "get --version", map[string]int{"GetItem": 1}, map[string]int{"Decrypt": 1})
	if _, err := s.store.History(ctx, "db", "alice"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "history", map[string]int{"GetItem": 1}, map[string]int{})

	for i := range 60 {
		if _, err := s.store.Put(ctx, "bulk", fmt.Sprintf("u%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	s.ddb.Reset()
	s.kms.ResetCounts()
	secs, err := s.store.GetService(ctx, "bulk")
	if err != nil || len(secs) != 60 {
		t.Fatalf("GetService: %d, %v", len(secs), err)
	}
	// 60 items in pages of 25: 3 Query pages; 60 distinct data keys.
	s.expect(t, "reading a whole service", map[string]int{"Query": 3}, map[string]int{"Decrypt": 60})
	if _, err := s.store.List(ctx, "bulk"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "list SERVICE", map[string]int{"Query": 3}, map[string]int{})
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

// TestEncryptionContextEnforced: a data key wrapped for one service cannot
// be unwrapped for another, by KMS itself (not only by the GCM binding).
func TestEncryptionContextEnforced(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "prod", "alice", []byte("prod-secret")); err != nil {
		t.Fatal(err)
	}
	it, err := s.backend.Load(ctx, "prod", "alice")
	if err != nil {
		t.Fatal(err)
	}
	rec := it.Current()
	if want := map[string]string{"service": "prod"}; !maps.Equal(rec.Context, want) {
		t.Fatalf("record context %v, want %v", rec.Context, want)
	}
	keys := awskms.New(s.kms.NewClient(), "alias/cloudchain")
	if _, err := keys.Decrypt(ctx, rec.KeyID, rec.WrappedKey, map[string]string{"service": "dev"}); !errors.Is(err, cloudchain.ErrAuthentication) {
		t.Fatalf("unwrapping prod's data key as dev: err = %v, want ErrAuthentication", err)
	}
}
