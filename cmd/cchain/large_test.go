package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

const largeCount = 10000

// fill writes n items straight through the backend (listing never decrypts,
// so the records need no real ciphertext): 10 services "big-0".."big-9"
// hold one secret each and "big" holds the rest.
func fill(t *testing.T, b cloudchain.Backend, n, workers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				svc := "big"
				if i < 10 {
					svc = fmt.Sprintf("big-%d", i)
				}
				it := &cloudchain.Item{Service: svc, User: fmt.Sprintf("user-%05d", i), Records: []*cloudchain.Record{{
					Format: cloudchain.FormatV1, Version: 1, Created: time.Unix(1767225600, 0), Author: "filler",
					KeyID: "local:0000000000000000", Nonce: make([]byte, 12), Ciphertext: make([]byte, 24),
				}}}
				if _, err := b.Save(ctx, nil, it); err != nil {
					t.Errorf("saving %d: %v", i, err)
					return
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func checkLargeListing(t *testing.T, env []string) {
	t.Helper()
	ctx := context.Background()
	out, errOut, code := cchainProcess(t, ctx, env, "", "list", "big", "--json")
	if code != 0 {
		t.Fatalf("list big: exit %d: %s", code, errOut)
	}
	var listing struct {
		Secrets []cloudchain.Entry `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing.Secrets) != largeCount-10 {
		t.Fatalf("list big --json gave %d secrets, want %d", len(listing.Secrets), largeCount-10)
	}
	for i, e := range listing.Secrets {
		if want := fmt.Sprintf("user-%05d", i+10); e.User != want || e.Version != 1 {
			t.Fatalf("entry %d is %s v%d, want %s v1", i, e.User, e.Version, want)
		}
	}
	out, errOut, code = cchainProcess(t, ctx, env, "", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	want := "big\nbig-0\nbig-1\nbig-2\nbig-3\nbig-4\nbig-5\nbig-6\nbig-7\nbig-8\nbig-9\n"
	if !strings.HasSuffix(out, want) {
		t.Fatalf("list gave %q, want %q", out, want)
	}
}

func TestLargeStoreLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 secrets")
	}
	env, dataDir := localProcessEnvDir(t)
	b, err := bolt.Open(filepath.Join(dataDir, "secrets.db"))
	if err != nil {
		t.Fatal(err)
	}
	fill(t, b, largeCount, 1)
	checkLargeListing(t, env)
}

func TestLargeStoreDynamoDB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 secrets")
	}
	s := startAWS(t)
	client := dynalitetest.NewClient(t, s.dynamo)
	table := dynalitetest.NewTable(t, client)
	fill(t, dynamodb.New(client, table), largeCount, 16)
	dir := t.TempDir()
	cfg := s.writeConfig(t, dir, table, "[cloudchain]\nauthor_lookup = false\n")
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg}
	for k, v := range s.env() {
		env = append(env, k+"="+v)
	}
	checkLargeListing(t, env)
}
