package dynamodb_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
)

// fakeAPI records requests and answers every call with err.
type fakeAPI struct {
	err  error
	puts []*ddb.PutItemInput
	dels []*ddb.DeleteItemInput
	qs   []*ddb.QueryInput
	// batch, when set, answers BatchGetItem.
	batch   func(*ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error)
	batches []*ddb.BatchGetItemInput
}

var (
	_ dynamodb.API      = (*fakeAPI)(nil)
	_ dynamodb.SetupAPI = (*fakeAPI)(nil)
	_ dynamodb.API      = (*ddb.Client)(nil)
	_ dynamodb.SetupAPI = (*ddb.Client)(nil)
)

func (f *fakeAPI) GetItem(context.Context, *ddb.GetItemInput, ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	return &ddb.GetItemOutput{}, f.err
}

func (f *fakeAPI) BatchGetItem(_ context.Context, in *ddb.BatchGetItemInput, _ ...func(*ddb.Options)) (*ddb.BatchGetItemOutput, error) {
	f.batches = append(f.batches, in)
	if f.batch != nil {
		return f.batch(in)
	}
	return &ddb.BatchGetItemOutput{}, f.err
}

func (f *fakeAPI) PutItem(_ context.Context, in *ddb.PutItemInput, _ ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return &ddb.PutItemOutput{}, f.err
}

func (f *fakeAPI) DeleteItem(_ context.Context, in *ddb.DeleteItemInput, _ ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error) {
	f.dels = append(f.dels, in)
	return &ddb.DeleteItemOutput{}, f.err
}

func (f *fakeAPI) Query(_ context.Context, in *ddb.QueryInput, _ ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	f.qs = append(f.qs, in)
	return &ddb.QueryOutput{}, f.err
}

func (f *fakeAPI) Scan(context.Context, *ddb.ScanInput, ...func(*ddb.Options)) (*ddb.ScanOutput, error) {
	return &ddb.ScanOutput{}, f.err
}

func (f *fakeAPI) DescribeTable(context.Context, *ddb.DescribeTableInput, ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	return &ddb.DescribeTableOutput{}, f.err
}

func (f *fakeAPI) CreateTable(context.Context, *ddb.CreateTableInput, ...func(*ddb.Options)) (*ddb.CreateTableOutput, error) {
	return &ddb.CreateTableOutput{}, f.err
}

func (f *fakeAPI) UpdateContinuousBackups(context.Context, *ddb.UpdateContinuousBackupsInput, ...func(*ddb.Options)) (*ddb.UpdateContinuousBackupsOutput, error) {
	return &ddb.UpdateContinuousBackupsOutput{}, f.err
}

func (f *fakeAPI) UpdateTable(context.Context, *ddb.UpdateTableInput, ...func(*ddb.Options)) (*ddb.UpdateTableOutput, error) {
	return &ddb.UpdateTableOutput{}, f.err
}

func apiError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg}
}

func TestErrorTranslation(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
		says []string
	}{
		{"AccessDenied", apiError("AccessDeniedException", "not authorized"), cloudchain.ErrAccessDenied, []string{"dynamodb:GetItem", `"safedb"`, "not authorized"}},
		{"Throttling", apiError("ThrottlingException", "slow down"), cloudchain.ErrThrottled, []string{"dynamodb:GetItem"}},
		{"ProvisionedThroughput", &types.ProvisionedThroughputExceededException{Message: new("too fast")}, cloudchain.ErrThrottled, nil},
		{"RequestLimit", &types.RequestLimitExceeded{Message: new("account limit")}, cloudchain.ErrThrottled, nil},
		{"MissingTable", &types.ResourceNotFoundException{Message: new("no table")}, cloudchain.ErrNotSetUp, []string{`"safedb"`, "eu-west-1", "cchain setup"}},
		{"Unknown", apiError("InternalServerError", "boom"), nil, []string{"dynamodb:GetItem", "boom"}},
		{"Canceled", context.Canceled, context.Canceled, nil},
	}
	sentinels := []error{cloudchain.ErrNotFound, cloudchain.ErrAccessDenied, cloudchain.ErrThrottled, cloudchain.ErrNotSetUp}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := dynamodb.New(&fakeAPI{err: tc.err}, "safedb", dynamodb.WithRegion("eu-west-1"))
			_, err := b.Load(context.Background(), "svc", "alice")
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Fatalf("err = %v also matches %v", err, s)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v lost the SDK error", err)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestConditions(t *testing.T) {
	legacy := &cloudchain.Record{Format: cloudchain.FormatLegacy, Version: 1, Context: cloudchain.LegacyContext(), Ciphertext: []byte("blob")}
	cases := []struct {
		name string
		prev *cloudchain.Item
		want string
	}{
		{"Create", nil, "attribute_not_exists(#s)"},
		{"Update", itemOf("svc", "alice", record(3, 10), record(2, 10)), "#v = :v AND #r = :rec"},
		{"PythonItem", itemOf("svc", "alice", legacy), "(attribute_not_exists(#v) AND #sec = :sec) OR (#v = :v AND #r = :rec)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{}
			b := dynamodb.New(f, "safedb")
			next := itemOf("svc", "alice", record(tc.prev.Version()+1, 10))
			if _, err := b.Save(context.Background(), tc.prev, next); err != nil {
				t.Fatal(err)
			}
			in := f.puts[0]
			if got := *in.ConditionExpression; got != tc.want {
				t.Fatalf("condition %q, want %q", got, tc.want)
			}
			if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Errorf("ReturnValuesOnConditionCheckFailure = %q", in.ReturnValuesOnConditionCheckFailure)
			}
			if tc.prev == nil {
				return
			}
			if v := in.ExpressionAttributeValues[":v"].(*types.AttributeValueMemberN).Value; v != "1" && tc.name == "PythonItem" || v != "3" && tc.name == "Update" {
				t.Errorf(":v = %s", v)
			}
			want, _ := tc.prev.Records[0].MarshalBinary()
			if rec := in.ExpressionAttributeValues[":rec"].(*types.AttributeValueMemberB).Value; !bytes.Equal(rec, want) {
				t.Errorf(":rec is not the encoding of the current record that was read")
			}
			if tc.name == "PythonItem" {
				if sec := in.ExpressionAttributeValues[":sec"].(*types.AttributeValueMemberS).Value; sec != "YmxvYg==" {
					t.Errorf(":sec = %s, want base64 of the blob", sec)
				}
			}
			if err := b.Remove(context.Background(), tc.prev); err != nil {
				t.Fatal(err)
			}
			if got := *f.dels[0].ConditionExpression; got != tc.want {
				t.Fatalf("Remove condition %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConflictReportsCurrentVersion(t *testing.T) {
	f := &fakeAPI{err: &types.ConditionalCheckFailedException{
		Message: new("The conditional request failed"),
		Item:    map[string]types.AttributeValue{"Ver": &types.AttributeValueMemberN{Value: "7"}},
	}}
	b := dynamodb.New(f, "safedb")
	_, err := b.Save(context.Background(), itemOf("svc", "alice", record(5, 10)), itemOf("svc", "alice", record(6, 10)))
	var vc *cloudchain.VersionConflictError
	if !errors.As(err, &vc) || vc.Expected != 5 || vc.Current != 7 || vc.Service != "svc" || vc.User != "alice" {
		t.Fatalf("err = %#v, want a VersionConflictError from 5 to 7", err)
	}
}

func TestItemsProjection(t *testing.T) {
	f := &fakeAPI{}
	b := dynamodb.New(f, "safedb", dynamodb.WithPageSize(25))
	for _, history := range []bool{false, true} {
		if err := b.Items(context.Background(), "svc", history, func(*cloudchain.Item) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	current, full := f.qs[0], f.qs[1]
	if current.ProjectionExpression == nil || strings.Contains(*current.ProjectionExpression, "Hist") {
		t.Fatalf("current-only projection %v", current.ProjectionExpression)
	}
	for _, name := range current.ExpressionAttributeNames {
		if name == "Hist" {
			t.Fatal("current-only Query fetches Hist")
		}
	}
	if full.ProjectionExpression != nil {
		t.Fatalf("history Query has projection %q", *full.ProjectionExpression)
	}
	if *current.Limit != 25 || !*current.ConsistentRead {
		t.Fatalf("Limit %v, ConsistentRead %v", current.Limit, current.ConsistentRead)
	}
}
