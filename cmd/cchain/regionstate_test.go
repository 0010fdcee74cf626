package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain/internal/faultproxy"
)

// TestRegionStateThroughTheBinary: with the primary region down (every
// connection to its DynamoDB and KMS servers reset), a first cchain process
// reads from the replica and records the primary in the region state file;
// a second process sends the primary no request at all and still reads the
// secret. With region_state = off, every process tries the primary again.
func TestRegionStateThroughTheBinary(t *testing.T) {
	r := newTwoRegions(t)
	s, westKMS, eastDDBP, eastKMSP, westDDBP, dir, cfg, path := r.s, r.westKMS, r.eastDDBP, r.eastKMSP, r.westDDBP, r.dir, r.cfg, r.path
	offPath := filepath.Join(dir, "off.cchainrc")
	if err := os.WriteFile(offPath, []byte(strings.Replace(cfg, "[cloudchain]\n", "[cloudchain]\nregion_state = off\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The default file, under HOME since XDG_CACHE_HOME is unset.
	stateFile := filepath.Join(dir, ".cache", "cloudchain", "regions.json")
	env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + path, "XDG_CACHE_HOME=", "CLOUDCHAIN_REGION_STATE="}
	for k, v := range s.env() {
		env = append(env, k+"="+v)
	}
	ctx := context.Background()
	run := func(env []string, stdin string, args ...string) (string, string, int) {
		return cchainProcess(t, ctx, env, stdin, args...)
	}
	if _, errOut, code := run(env, "", "setup"); code != 0 {
		t.Fatalf("setup: %s", errOut)
	}
	r.createReplica(t, ctx)
	if _, errOut, code := run(env, "pw-alice", "put", "app", "alice", "-"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	if got, errOut, code := run(env, "", "get", "app", "alice", "-n"); code != 0 || got != "pw-alice" {
		t.Fatalf("get with the primary up: code %d, %q, %s", code, got, errOut)
	}
	r.replicate(t, ctx)
	if _, err := os.Stat(stateFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reads from a healthy primary wrote the state file: %v", err)
	}

	// The primary region goes down; one attempt per region, for exact
	// counts.
	eastDDBP.Always("*", faultproxy.Fault{Kind: faultproxy.Reset})
	eastKMSP.Always("*", faultproxy.Fault{Kind: faultproxy.Reset})
	env = append(env, "AWS_MAX_ATTEMPTS=1")
	with := func(env []string, kv string) []string { return append(slices.Clip(env), kv) }
	type counts struct{ eastDDB, eastKMS, westDDB, westKMS int }
	get := func(name string, env []string) counts {
		t.Helper()
		eastDDBP.Reset()
		eastKMSP.Reset()
		westDDBP.Reset()
		westKMS.ResetCounts()
		got, errOut, code := run(env, "", "get", "app", "alice", "-n")
		if code != 0 || got != "pw-alice" {
			t.Fatalf("%s: code %d, %q, %s", name, code, got, errOut)
		}
		return counts{eastDDBP.Total(), eastKMSP.Total(), westDDBP.Count("BatchGetItem"), westKMS.Count("Decrypt")}
	}
	for _, step := range []struct {
		name string
		env  []string
		want counts
	}{
		{"first process", env, counts{1, 1, 1, 1}},
		{"second process", env, counts{0, 0, 1, 1}},
		{"third process", env, counts{0, 0, 1, 1}},
		{"region_state = off", with(env, "CLOUDCHAIN_CONFIG="+offPath), counts{1, 1, 1, 1}},
		{"region_state = off, again", with(env, "CLOUDCHAIN_CONFIG="+offPath), counts{1, 1, 1, 1}},
		{"CLOUDCHAIN_REGION_STATE=off beats the file", with(env, "CLOUDCHAIN_REGION_STATE=off"), counts{1, 1, 1, 1}},
		{"on again", env, counts{0, 0, 1, 1}},
	} {
		if got := get(step.name, step.env); got != step.want {
			t.Errorf("%s: requests to the primary's DynamoDB and KMS, the replica's BatchGetItem and Decrypt = %+v, want %+v", step.name, got, step.want)
		}
		if step.name == "first process" {
			b, err := os.ReadFile(stateFile)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(stateFile)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("state file %v, %v; want mode 0600", fi, err)
			}
			for _, want := range []string{`"dynamodb"`, `"kms"`, `"us-east-1"`, eastDDBP.URL(), eastKMSP.URL()} {
				if !strings.Contains(string(b), want) {
					t.Errorf("state file lacks %s:\n%s", want, b)
				}
			}
			if strings.Contains(string(b), "pw-alice") || strings.Contains(string(b), "us-west-2") {
				t.Errorf("state file holds more than the dead region:\n%s", b)
			}
		}
	}
}
