package dynamodb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

func TestCreateTable(t *testing.T) {
	client, counter := dynalitetest.NewCountingClient(t, dynalitetest.Start(t))
	table := dynalitetest.TableName(t)
	t.Cleanup(func() {
		client.DeleteTable(ctxFor(t), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})

	res, err := dynamodb.CreateTable(ctxFor(t), client, table)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Table != table || res.PITR != dynamodb.PITRUnsupported || res.Note == "" {
		t.Fatalf("first CreateTable = %+v, want created, PITR unsupported (dynalite) with a note", res)
	}
	if c := counter.Counts(); c["CreateTable"] != 1 || c["UpdateContinuousBackups"] != 1 {
		t.Fatalf("first CreateTable sent %v", c)
	}
	// dynalite has no deletion protection: setup says so rather than fail.
	if res.DeletionProtection || !strings.Contains(res.DeletionNote, "not supported") {
		t.Fatalf("deletion protection on dynalite: %+v", res)
	}
	desc, err := client.DescribeTable(ctxFor(t), &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if desc.Table.TableStatus != types.TableStatusActive {
		t.Fatalf("table status %s", desc.Table.TableStatus)
	}
	if bm := desc.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("billing mode %+v, want PAY_PER_REQUEST", bm)
	}

	// The table works as a backend.
	b := dynamodb.New(client, table)
	if _, err := b.Save(ctxFor(t), nil, itemOf("svc", "alice", record(1, 10))); err != nil {
		t.Fatal(err)
	}

	// Again: nothing to do, and the data stays.
	counter.Reset()
	res, err = dynamodb.CreateTable(ctxFor(t), client, table)
	if err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	if res.Created || res.PITR != dynamodb.PITRUnsupported {
		t.Fatalf("second CreateTable = %+v, want not created", res)
	}
	if c := counter.Count("CreateTable"); c != 0 {
		t.Fatalf("second CreateTable sent %d CreateTable requests", c)
	}
	if _, err := b.Load(ctxFor(t), "svc", "alice"); err != nil {
		t.Fatalf("the item is gone after the second setup: %v", err)
	}
}

func TestCreateTableRefusesWrongSchema(t *testing.T) {
	client, counter := dynalitetest.NewCountingClient(t, dynalitetest.Start(t))
	table := dynalitetest.TableName(t)
	_, err := client.CreateTable(ctxFor(t), &ddb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.DeleteTable(ctxFor(t), &ddb.DeleteTableInput{TableName: aws.String(table)}) })
	counter.Reset()

	_, err = dynamodb.CreateTable(ctxFor(t), client, table)
	if !errors.Is(err, dynamodb.ErrWrongSchema) {
		t.Fatalf("err = %v, want ErrWrongSchema", err)
	}
	for _, want := range []string{table, "id (HASH, S)", "Service (HASH, S)", "Username (RANGE, S)", "not changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if c := counter.Counts(); len(c) != 1 || c["DescribeTable"] != 1 {
		t.Fatalf("a refused setup sent %v, want one DescribeTable only", c)
	}
}

func TestCreateTableAccessDenied(t *testing.T) {
	fake := &fakeAPI{err: apiError("AccessDeniedException", "User: arn:aws:iam::123456789012:user/x is not authorized")}
	_, err := dynamodb.CreateTable(ctxFor(t), fake, "safedb")
	if !errors.Is(err, cloudchain.ErrAccessDenied) || !strings.Contains(err.Error(), "dynamodb:DescribeTable") {
		t.Fatalf("err = %v, want ErrAccessDenied naming dynamodb:DescribeTable", err)
	}
}
