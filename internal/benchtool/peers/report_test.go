package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		name, target, body string
		wantSvc, wantOp    string
	}{
		{name: "kms", target: "TrentService.Decrypt", wantSvc: "KMS", wantOp: "Decrypt"},
		{name: "dynamodb", target: "DynamoDB_20120810.Query", wantSvc: "DynamoDB", wantOp: "Query"},
		{name: "ssm", target: "AmazonSSM.GetParametersByPath", wantSvc: "SSM", wantOp: "GetParametersByPath"},
		{name: "sts form", body: "Action=GetCallerIdentity&Version=2011-06-15", wantSvc: "STS", wantOp: "GetCallerIdentity"},
		{name: "unknown", body: "x", wantSvc: "other", wantOp: "POST /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.target != "" {
				r.Header.Set("X-Amz-Target", tc.target)
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			svc, op := operation(r)
			if svc != tc.wantSvc || op != tc.wantOp {
				t.Errorf("operation() = %q %q, want %q %q", svc, op, tc.wantSvc, tc.wantOp)
			}
		})
	}
}

func TestStoreRequests(t *testing.T) {
	tests := []struct {
		name string
		runs []map[string]int
		kms  string
		want string
	}{
		{name: "none", runs: []map[string]int{{}}, kms: "none", want: "none"},
		{name: "same every run",
			runs: []map[string]int{{"DynamoDB Query": 1, "KMS Decrypt": 1}, {"DynamoDB Query": 1, "KMS Decrypt": 1}},
			kms:  "1 Decrypt", want: "1 Query"},
		{name: "runs differ",
			runs: []map[string]int{{"DynamoDB Scan": 1, "DynamoDB Query": 10}, {"DynamoDB Scan": 2, "DynamoDB Query": 10}},
			kms:  "none", want: "10 Query, 1–2 Scan"},
		{name: "ssm only", runs: []map[string]int{{"SSM GetParametersByPath": 11}}, kms: "none", want: "SSM: 11 GetParametersByPath"},
		{name: "dynamodb and sts",
			runs: []map[string]int{{"DynamoDB PutItem": 3, "STS GetCallerIdentity": 1, "KMS GenerateDataKey": 1}},
			kms:  "1 GenerateDataKey", want: "3 PutItem; STS: 1 GetCallerIdentity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := requests(tc.runs, "KMS"); got != tc.kms {
				t.Errorf("requests(KMS) = %q, want %q", got, tc.kms)
			}
			if got := storeRequests(tc.runs); got != tc.want {
				t.Errorf("storeRequests() = %q, want %q", got, tc.want)
			}
		})
	}
}
