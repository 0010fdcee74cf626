package dynalitetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestRetriesCountsOnlyUninjectedFailures: a 500 from the server is retried
// by the SDK and reported by Retries; a 500 the test injects is not.
func TestRetriesCountsOnlyUninjectedFailures(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Header().Set("X-Amzn-Errortype", "InternalServerError")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"busy"}`))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"TableNames":[]}`))
	}))
	defer srv.Close()
	c := &Counter{base: srv.Client().Transport, counts: map[string]int{}}
	client := dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:   &http.Client{Transport: c, Timeout: 10 * time.Second},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	retries, reasons := c.Retries()
	if c.Count("ListTables") != 2 || retries["ListTables"] != 1 || len(reasons) != 1 {
		t.Fatalf("a server 500 then a success: %v requests, retries %v (%q); want 2 requests, 1 retry", c.Counts(), retries, reasons)
	}
	if ops := c.Operations(t); len(ops) != 1 || ops["ListTables"] != 1 {
		t.Fatalf("Operations = %v, want one ListTables", ops)
	}
	c.Reset()
	c.Fail("ListTables", 1, "InternalServerError", 500)
	if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if retries, _ := c.Retries(); c.Count("ListTables") != 2 || len(retries) != 0 {
		t.Fatalf("an injected 500 then a success: %v requests, retries %v; want 2 requests, none counted as retries", c.Counts(), retries)
	}
	c.Reset()
	for range 3 {
		if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if retries, _ := c.Retries(); c.Count("ListTables") != 3 || len(retries) != 0 {
		t.Fatalf("three successes: %v requests, retries %v", c.Counts(), retries)
	}
}
