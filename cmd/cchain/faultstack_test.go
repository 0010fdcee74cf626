package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/faultproxy"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// faultStack is cchain's configuration pointed at dynalite and a KMS test
// server through fault-injecting proxies, and a Store that reads around the
// proxies to check what the table holds.
type faultStack struct {
	env   []string
	ddbP  *faultproxy.Proxy
	kmsP  *faultproxy.Proxy
	check *cloudchain.Store
	kms   *kmstest.Server
	table string
}

func newFaultStack(t *testing.T) *faultStack {
	s := startAWS(t)
	k := kmstest.NewServer(t)
	k.CreateKey("cloudchain")
	dp := faultproxy.Start(t, s.dynamo)
	kp := faultproxy.Start(t, k.URL())
	table := dynalitetest.NewTable(t, s.ddb)
	dir := t.TempDir()
	cfg := writeAWSConfig(t, dir, dp.URL(), table, kp.URL(), "[cloudchain]\nauthor_lookup = false\n")
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg}
	for k, v := range s.env() {
		env = append(env, k+"="+v)
	}
	return &faultStack{
		env:   env,
		ddbP:  dp,
		kmsP:  kp,
		check: cloudchain.New(dynamodb.New(s.ddb, table), awskms.New(k.NewClient(), "alias/cloudchain")),
		kms:   k,
		table: table,
	}
}

// state is what the table holds for one secret.
func (f *faultStack) state(t *testing.T, service, user string) (value string, versions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec, err := f.check.Get(ctx, service, user)
	if errors.Is(err, cloudchain.ErrNotFound) {
		return "", 0
	}
	if err != nil {
		t.Fatalf("reading %s/%s around the proxies: %v", service, user, err)
	}
	hist, err := f.check.History(ctx, service, user)
	if err != nil {
		t.Fatalf("history of %s/%s: %v", service, user, err)
	}
	for _, h := range hist {
		if h.Auth == cloudchain.AuthFailed {
			t.Fatalf("%s/%s version %d fails authentication", service, user, h.Version)
		}
	}
	return string(sec.Value), len(hist)
}
