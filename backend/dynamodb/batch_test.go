package dynamodb_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
)

// TestLoadBatchRequest checks the request shape: one BatchGetItem, strongly
// consistent, each distinct key once.
func TestLoadBatchRequest(t *testing.T) {
	f := &fakeAPI{}
	b := dynamodb.New(f, "safedb")
	got, err := b.LoadBatch(ctxFor(t), "svc", []string{"a", "b", "a", cloudchain.ServiceKeyUser})
	if err != nil || len(got) != 4 || slices.ContainsFunc(got, func(it *cloudchain.Item) bool { return it != nil }) {
		t.Fatalf("LoadBatch = %v, %v; want 4 nil entries", got, err)
	}
	if len(f.batches) != 1 {
		t.Fatalf("%d BatchGetItem requests, want 1", len(f.batches))
	}
	ka := f.batches[0].RequestItems["safedb"]
	if ka.ConsistentRead == nil || !*ka.ConsistentRead {
		t.Errorf("BatchGetItem is not strongly consistent")
	}
	if len(ka.Keys) != 3 {
		t.Errorf("%d keys, want 3 (duplicates removed)", len(ka.Keys))
	}
}

// TestLoadBatchUnprocessed checks that only unprocessed keys are asked for
// again, and that a server that never processes them ends the retries.
func TestLoadBatchUnprocessed(t *testing.T) {
	raw := func(user string) map[string]types.AttributeValue {
		rec, _ := record(1, 10).MarshalBinary()
		return map[string]types.AttributeValue{
			"Service": s("svc"), "Username": s(user),
			"Ver": &types.AttributeValueMemberN{Value: "1"}, "Rec": &types.AttributeValueMemberB{Value: rec},
		}
	}
	keyUser := func(k map[string]types.AttributeValue) string {
		return k["Username"].(*types.AttributeValueMemberS).Value
	}
	t.Run("Retried", func(t *testing.T) {
		f := &fakeAPI{}
		f.batch = func(in *ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error) {
			keys := in.RequestItems["safedb"].Keys
			// Answer the first key, leave the rest unprocessed.
			out := &ddb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{
				"safedb": {raw(keyUser(keys[0]))},
			}}
			if len(keys) > 1 {
				out.UnprocessedKeys = map[string]types.KeysAndAttributes{"safedb": {Keys: keys[1:], ConsistentRead: in.RequestItems["safedb"].ConsistentRead}}
			}
			return out, nil
		}
		b := dynamodb.New(f, "safedb")
		users := []string{"u1", "u2", "u3"}
		got, err := b.LoadBatch(ctxFor(t), "svc", users)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range got {
			if it == nil || it.User != users[i] {
				t.Fatalf("entry %d = %+v, want %s", i, it, users[i])
			}
		}
		var sizes []int
		for _, in := range f.batches {
			sizes = append(sizes, len(in.RequestItems["safedb"].Keys))
		}
		if !slices.Equal(sizes, []int{3, 2, 1}) {
			t.Fatalf("requests asked for %v keys, want [3 2 1]", sizes)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		f := &fakeAPI{}
		f.batch = func(in *ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error) {
			return &ddb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
		}
		b := dynamodb.New(f, "safedb", dynamodb.WithBatchBackoff(time.Millisecond))
		_, err := b.LoadBatch(ctxFor(t), "svc", []string{"u1"})
		if !errors.Is(err, cloudchain.ErrThrottled) {
			t.Fatalf("err = %v, want ErrThrottled", err)
		}
		if n := len(f.batches); n < 2 || n > 10 {
			t.Fatalf("%d requests, want a small bounded number", n)
		}
	})
	t.Run("Chunks", func(t *testing.T) {
		f := &fakeAPI{}
		b := dynamodb.New(f, "safedb")
		users := make([]string, 250)
		for i := range users {
			users[i] = fmt.Sprintf("u%03d", i)
		}
		if _, err := b.LoadBatch(ctxFor(t), "svc", users); err != nil {
			t.Fatal(err)
		}
		if len(f.batches) != 3 {
			t.Fatalf("%d requests for 250 keys, want 3 (BatchGetItem takes 100)", len(f.batches))
		}
	})
}

// TestLoadBatchServer runs LoadBatch against the server with items large
// enough that the server leaves some keys unprocessed (dynalite returns at
// most about 1.4 MB per BatchGetItem, DynamoDB 16 MB).
func TestLoadBatchServer(t *testing.T) {
	e := newEnv(t)
	var users []string
	for i := range 8 {
		u := fmt.Sprintf("big-%d", i)
		users = append(users, u)
		if _, err := e.backend.Save(ctxFor(t), nil, itemOf("svc", u, record(1, 300_000))); err != nil {
			t.Fatal(err)
		}
	}
	users = append(users, "missing")
	e.counter.Reset()
	got, err := e.backend.LoadBatch(ctxFor(t), "svc", users)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		if u == "missing" {
			if got[i] != nil {
				t.Fatalf("missing user gave %+v", got[i])
			}
			continue
		}
		if got[i] == nil || got[i].User != u || got[i].Version() != 1 {
			t.Fatalf("entry %d = %+v, want %s", i, got[i], u)
		}
	}
	if n := e.counter.Count("BatchGetItem"); n < 2 || e.counter.Total() != n {
		t.Fatalf("requests %v: want only BatchGetItem, more than one (unprocessed keys retried)", e.counter.Counts())
	}
	t.Logf("8 items of 300 KB: %v", e.counter.Counts())
}
