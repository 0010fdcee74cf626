package dynamodb

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cloudchain/cloudchain"
)

var _ cloudchain.Discarder = (*Backend)(nil)

// Discard removes whatever is stored for (service, user), even an item that
// does not decode, with one unconditional DeleteItem.
func (b *Backend) Discard(ctx context.Context, service, user string) error {
	_, err := b.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName: aws.String(b.table),
		Key:       keyOf(service, user),
	})
	if err != nil {
		return b.translate("DeleteItem", err)
	}
	return nil
}
