package dynalitetest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

func TestServerAndCounting(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	if again := dynalitetest.Start(t); again != endpoint {
		t.Fatalf("second Start gave %s, want the shared %s", again, endpoint)
	}
	client, counter := dynalitetest.NewCountingClient(t, endpoint)
	table := dynalitetest.NewTable(t, client)
	if !strings.HasPrefix(table, "cctest-TestServerAndCounting-") {
		t.Errorf("table name %q does not name the test", table)
	}
	counter.Reset()
	ctx := context.Background()
	out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range out.TableNames {
		found = found || n == table
	}
	if !found {
		t.Fatalf("ListTables = %q, missing %s", out.TableNames, table)
	}
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); got["ListTables"] != 1 || got["DescribeTable"] != 1 || counter.Total() != 2 {
		t.Fatalf("counts = %v, want one ListTables and one DescribeTable", got)
	}
}

func TestTableNamesAreFresh(t *testing.T) {
	a, b := dynalitetest.TableName(t), dynalitetest.TableName(t)
	if a == b {
		t.Fatalf("two calls gave the same name %s", a)
	}
	t.Run("weird/sub test name ü", func(t *testing.T) {
		name := dynalitetest.TableName(t)
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				t.Fatalf("table name %q has %q, which DynamoDB refuses", name, r)
			}
		}
	})
}
