package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreOfThePreviousRelease opens, with this build, an embedded store
// and master key that the previous release (commit f90eb61, record format v1
// with a KMS-style data key per record, no service keys) wrote with:
//
//	cchain -u alice -e db -s hunter2
//	printf v1 | cchain put db bob -; printf v2 | cchain put db bob - --comment second
//	printf '\x00\x01binary\xff' | cchain put api token -
//	printf gone | cchain put api old -; cchain delete api old
//	printf x | cchain put web key -
//
// Everything reads with no migration step, new writes go into the current
// format beside the old records, and upgrade re-saves the rest.
func TestStoreOfThePreviousRelease(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"master.key", "secrets.db"} {
		data, err := os.ReadFile(filepath.Join("testdata", "previous-release", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(stdin string, wantCode int, args ...string) string {
		t.Helper()
		out, errOut, code := cchainProcess(t, ctx, env, stdin, args...)
		if code != wantCode {
			t.Fatalf("cchain %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out
	}
	expect := func(got, want string, args ...string) {
		t.Helper()
		if got != want {
			t.Fatalf("cchain %s printed %q, want %q", strings.Join(args, " "), got, want)
		}
	}
	expect(run("", 0, "-u", "alice", "-e", "db", "-r"), "hunter2\n", "-r")
	expect(run("", 0, "get", "db", "bob", "-n"), "v2", "get db bob")
	expect(run("", 0, "get", "db", "bob", "-n", "--version", "1"), "v1", "get --version 1")
	expect(run("", 0, "get", "api", "token", "-n"), "\x00\x01binary\xff", "get api token")
	run("", exitDeleted, "get", "api", "old")
	if out := run("", 0, "history", "db", "bob"); !strings.Contains(out, " v1 ") || strings.Count(out, "verified") != 2 || !strings.Contains(out, "second") {
		t.Fatalf("history of a previous-release secret:\n%s", out)
	}
	if out := run("", 0, "env", "db"); !strings.Contains(out, "export alice='hunter2'") || !strings.Contains(out, "export bob='v2'") {
		t.Fatalf("env over previous-release secrets:\n%s", out)
	}

	// New writes go into the current format beside the old records.
	run("", 0, "undelete", "api", "old")
	expect(run("", 0, "get", "api", "old", "-n"), "gone", "get api old")
	run("v3", 0, "put", "db", "bob", "-")
	expect(run("", 0, "get", "db", "bob", "-n", "--version", "2"), "v2", "get --version 2 after a new put")
	run("carol", 0, "put", "db", "carol", "-")
	if out := run("", 0, "history", "db", "bob"); !strings.Contains(out, " v2 ") || !strings.Contains(out, " v1 ") {
		t.Fatalf("history after a new put:\n%s", out)
	}

	// upgrade re-saves what is left in the old format, values unchanged.
	if out := run("", 0, "upgrade", "db", "api", "web"); !strings.Contains(out, "db: re-saved 1 secrets") || !strings.Contains(out, "api: re-saved 1 secrets") || !strings.Contains(out, "web: re-saved 1 secrets") {
		t.Fatalf("upgrade:\n%s", out)
	}
	expect(run("", 0, "get", "db", "alice", "-n"), "hunter2", "get db alice after upgrade")
	expect(run("", 0, "get", "api", "token", "-n"), "\x00\x01binary\xff", "get api token after upgrade")
	if out := run("", 0, "list", "db"); strings.Contains(out, "unverified") {
		t.Fatalf("after upgrade every current version should verify:\n%s", out)
	}
}
