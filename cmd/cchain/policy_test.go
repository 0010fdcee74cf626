package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/internal/faultproxy"
)

// TestPolicyActions derives the actions each command really sends from the
// request counts of the proxies in front of dynalite and the KMS test
// server (through the binary), and checks that each role's policy allows
// exactly the actions of the commands that role may run (its own and those
// of the roles before it): none missing, none extra.
func TestPolicyActions(t *testing.T) {
	f := newFaultStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	importFile := filepath.Join(dir, "db.json")
	if err := os.WriteFile(importFile, []byte(`{"dave": "d1", "erin": "e1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"put", "db", "alice", "a1"}, {"put", "db", "alice", "a2"}, {"put", "db", "bob", "b1"},
		{"put", "db", "carol", "c1"}, {"put", "api", "bob", "b2"},
	} {
		if _, errOut, code := cchainProcess(t, ctx, f.env, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}

	type command struct {
		name   string
		args   []string
		faults func()
		codes  []int // accepted exit codes (0 if empty)
	}
	commands := map[string][]command{
		roleReader: {
			{name: "get", args: []string{"get", "db", "alice"}},
			{name: "get --version", args: []string{"get", "db", "alice", "--version", "1"}},
			{name: "history", args: []string{"history", "db", "alice"}},
			{name: "list SERVICE", args: []string{"list", "db"}},
			{name: "export", args: []string{"export", "db"}},
			{name: "env", args: []string{"env", "db"}},
			{name: "exec", args: []string{"exec", "db", "--", "true"}},
			{name: "diff", args: []string{"diff", "db", "api"}, codes: []int{0, 1}},
		},
		roleWriter: {
			{name: "put", args: []string{"put", "db", "alice", "a3"}},
			{name: "first put into a service", args: []string{"put", "new", "alice", "n1"}},
			{name: "first put, the key ring's answer lost", args: []string{"put", "new2", "alice", "n1"},
				faults: func() { f.ddbP.Inject("PutItem", 1, faultproxy.Fault{Kind: faultproxy.ResetAfter}) }},
			{name: "put, its answer lost", args: []string{"put", "db", "alice", "a4"},
				faults: func() { f.ddbP.Inject("PutItem", 1, faultproxy.Fault{Kind: faultproxy.ResetAfter}) }},
			{name: "delete", args: []string{"delete", "db", "bob"}},
			{name: "undelete", args: []string{"undelete", "db", "bob"}},
			{name: "rollback", args: []string{"rollback", "db", "alice", "1"}},
			{name: "import", args: []string{"import", importFile, "--service", "db"}},
			{name: "cp", args: []string{"cp", "db", "api", "carol"}},
		},
		roleAdmin: {
			{name: "delete --purge", args: []string{"delete", "db", "carol", "--purge", "--yes"}},
			{name: "rotate", args: []string{"rotate", "db"}},
			{name: "upgrade", args: []string{"upgrade", "db"}},
		},
	}
	sent := map[string]bool{}
	for _, role := range roles {
		for _, c := range commands[role] {
			f.ddbP.Reset()
			f.kmsP.Reset()
			if c.faults != nil {
				c.faults()
			}
			_, errOut, code := cchainProcess(t, ctx, f.env, "", c.args...)
			f.ddbP.Clear()
			if ok := slices.Contains(c.codes, code) || (len(c.codes) == 0 && code == 0); !ok {
				t.Fatalf("%s: exit %d: %s", c.name, code, errOut)
			}
			var actions []string
			for op := range f.ddbP.Counts() {
				actions = append(actions, "dynamodb:"+op)
			}
			for op := range f.kmsP.Counts() {
				actions = append(actions, "kms:"+op)
			}
			slices.Sort(actions)
			t.Logf("%s (%s): %s", c.name, role, strings.Join(actions, " "))
			for _, a := range actions {
				sent[a] = true
			}
		}
		want := slices.Sorted(maps.Keys(sent))
		p, err := buildPolicy(&config.Config{Table: "safedb", KMSKey: "alias/cloudchain"}, policyOptions{role: role, services: []string{"db"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := policyActions(p); !slices.Equal(got, want) {
			t.Errorf("role %s: the policy allows %v; its commands send %v", role, got, want)
		}
	}
}

// TestPolicyDocument checks the policy's shape: the services in both
// conditions, the configured key and its account, decrypt_keys for
// kms:Decrypt only, and usage errors for a bad role or service.
func TestPolicyDocument(t *testing.T) {
	const key = "arn:aws:kms:eu-west-1:123456789012:key/1111"
	const old = "arn:aws:kms:eu-west-1:123456789012:key/0000"
	cfg := &config.Config{Table: "secrets", Region: "eu-west-1", KMSKey: key, DecryptKeys: []string{old}}
	p, err := buildPolicy(cfg, policyOptions{role: roleWriter, services: []string{"web", "db", "db"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	doc := string(b)
	for _, want := range []string{
		`"Resource":"arn:aws:dynamodb:eu-west-1:123456789012:table/secrets"`,
		`{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["db","web"]}}`,
		`"Action":["kms:Decrypt"],"Resource":["` + key + `","` + old + `"]`,
		`"Action":["kms:GenerateDataKey"],"Resource":"` + key + `"`,
		`{"StringEquals":{"kms:EncryptionContext:service":["db","web"]}}`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "Scan") || strings.Contains(doc, `"*"`) {
		t.Errorf("policy grants more than the services: %s", doc)
	}
	p, _ = buildPolicy(cfg, policyOptions{role: roleReader, services: []string{"db"}})
	if b, _ := json.Marshal(p); strings.Contains(string(b), "GenerateDataKey") || strings.Contains(string(b), "PutItem") {
		t.Errorf("reader policy can write: %s", b)
	}
	for _, o := range []policyOptions{
		{role: "", services: []string{"db"}},
		{role: "root", services: []string{"db"}},
		{role: roleReader, services: []string{"a\x00b"}},
		{role: roleReader, services: []string{""}},
	} {
		if _, err := buildPolicy(cfg, o); err == nil {
			t.Errorf("%+v: no error", o)
		} else if code, _ := classify(err); code != exitUsage {
			t.Errorf("%+v: exit %d (%v), want %d", o, code, err, exitUsage)
		}
	}
}
