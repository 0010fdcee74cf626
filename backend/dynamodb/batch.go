package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
)

var _ cloudchain.BatchLoader = (*Backend)(nil)

// maxBatchKeys is BatchGetItem's limit on keys per request.
const maxBatchKeys = 100

// maxBatchAttempts bounds the requests made for one chunk of keys when the
// server keeps returning some of them as UnprocessedKeys (throttling, or the
// 16 MB response limit).
const maxBatchAttempts = 8

// LoadBatch loads the items of users of service with one strongly consistent
// BatchGetItem (one per 100 distinct users). Keys the server returns as
// UnprocessedKeys are asked for again, and only they, with a short backoff,
// up to maxBatchAttempts requests; after that LoadBatch fails with an error
// wrapping cloudchain.ErrThrottled. The result has one entry per user, in
// the order of users, nil for a user with no item.
func (b *Backend) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	found := make(map[string]*cloudchain.Item, len(users))
	var keys []map[string]types.AttributeValue
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if seen[u] {
			continue // BatchGetItem refuses duplicate keys
		}
		seen[u] = true
		keys = append(keys, keyOf(service, u))
	}
	for len(keys) > 0 {
		n := min(len(keys), maxBatchKeys)
		if err := b.batchChunk(ctx, service, keys[:n], found); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	out := make([]*cloudchain.Item, len(users))
	for i, u := range users {
		out[i] = found[u]
	}
	return out, nil
}

// batchChunk reads up to maxBatchKeys keys into found, retrying
// UnprocessedKeys.
func (b *Backend) batchChunk(ctx context.Context, service string, keys []map[string]types.AttributeValue, found map[string]*cloudchain.Item) error {
	backoff := b.batchBackoff
	for attempt := 1; ; attempt++ {
		out, err := b.client.BatchGetItem(ctx, &ddb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{
				b.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
			},
		})
		if err != nil {
			return b.translate("BatchGetItem", err)
		}
		for _, av := range out.Responses[b.table] {
			user, ok := av[attrUser].(*types.AttributeValueMemberS)
			if !ok {
				return fmt.Errorf("%w: an item of service %s in table %s has no string Username", cloudchain.ErrMalformed, service, b.table)
			}
			it, err := decodeItem(service, user.Value, av, true)
			if err != nil {
				return err
			}
			found[user.Value] = it
		}
		keys = out.UnprocessedKeys[b.table].Keys
		if len(keys) == 0 {
			return nil
		}
		if attempt >= maxBatchAttempts {
			return fmt.Errorf("%w: dynamodb:BatchGetItem on table %q left %d keys of service %s unprocessed after %d requests",
				cloudchain.ErrThrottled, b.table, len(keys), service, attempt)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamodb:BatchGetItem on table %q: %w", b.table, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
