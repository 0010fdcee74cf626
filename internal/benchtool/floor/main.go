// Command floor makes, with the AWS SDK for Go and nothing else, the round
// trips that a cchain operation cannot avoid, so that scripts/bench can show
// each cchain row next to the least a Go program with the same SDK needs for
// the same work:
//
//	floor get   -table T -service S -user U -blob F   BatchGetItem (secret + key ring), then KMS Decrypt
//	floor put   -table T -service S -user U -blob F   the same, then one conditional PutItem
//	floor query -table T -service S -blob F           every Query page of the partition, then KMS Decrypt
//
// F holds a KMS ciphertext blob made with the context {"service": S}. The
// endpoints, region and credentials come from the standard AWS_* variables,
// as for any SDK program.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// keyRingUser is cloudchain.ServiceKeyUser, copied so that this program
// does not link the cloudchain packages.
const keyRingUser = "\x01cloudchain:service-keys"

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: floor get|put|query [flags]")
	}
	mode := args[0]
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	table := fs.String("table", "", "DynamoDB table")
	service := fs.String("service", "", "service (partition)")
	user := fs.String("user", "", "user")
	blob := fs.String("blob", "", "file holding a KMS ciphertext blob for the service")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ciphertext, err := os.ReadFile(*blob)
	if err != nil {
		return err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg)
	key := func(u string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"Service":  &types.AttributeValueMemberS{Value: *service},
			"Username": &types.AttributeValueMemberS{Value: u},
		}
	}
	items := 0
	switch mode {
	case "get", "put":
		out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			*table: {Keys: []map[string]types.AttributeValue{key(*user), key(keyRingUser)}, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return fmt.Errorf("BatchGetItem: %w", err)
		}
		items = len(out.Responses[*table])
	case "query":
		p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
			TableName:                 table,
			KeyConditionExpression:    aws.String("#s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "Service"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: *service}},
			ConsistentRead:            aws.Bool(true),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("dynamodb:Query: %w", err)
			}
			items += len(page.Items)
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	dec, err := kms.NewFromConfig(cfg).Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    ciphertext,
		EncryptionContext: map[string]string{"service": *service},
	})
	if err != nil {
		return fmt.Errorf("kms:Decrypt: %w", err)
	}
	clear(dec.Plaintext)
	if mode == "put" {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: table,
			Item: map[string]types.AttributeValue{
				"Service":  &types.AttributeValueMemberS{Value: *service + "-floor"},
				"Username": &types.AttributeValueMemberS{Value: *user},
				"Secret":   &types.AttributeValueMemberB{Value: ciphertext},
			},
			ConditionExpression:      aws.String("attribute_not_exists(#s) OR #s = :s"),
			ExpressionAttributeNames: map[string]string{"#s": "Service"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s": &types.AttributeValueMemberS{Value: *service + "-floor"},
			},
		})
		if err != nil {
			return fmt.Errorf("PutItem: %w", err)
		}
	}
	if items == 0 {
		return fmt.Errorf("no items read")
	}
	fmt.Println(items)
	return nil
}
