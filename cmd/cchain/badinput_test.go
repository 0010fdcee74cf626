package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// badCase is one bad input given to the binary, with the exit code and the
// message it must get.
type badCase struct {
	name  string
	setup func(t *testing.T, env []string, dataDir string) []string // returns extra env
	stdin string
	args  []string
	code  int
	want  string // in stderr
	never string // never in stderr (a secret, a config line)
}

func runBadCases(t *testing.T, newEnv func(t *testing.T) ([]string, string), cases []badCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env, dataDir := newEnv(t)
			if c.setup != nil {
				env = append(env, c.setup(t, env, dataDir)...)
			}
			out, errOut, code := cchainProcess(t, ctx, env, c.stdin, c.args...)
			t.Logf("BADINPUT %s | exit %d | %s", c.name, code, strings.ReplaceAll(strings.TrimSpace(errOut), "\n", " / "))
			if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, c.code, c.want)
			}
			if c.never != "" && strings.Contains(errOut, c.never) {
				t.Fatalf("stderr %q shows %q", errOut, c.never)
			}
		})
	}
}

// localPut saves one secret in a fresh embedded store, so that its key and
// store file exist.
func localPut(t *testing.T, env []string) {
	t.Helper()
	if _, errOut, code := cchainProcess(t, context.Background(), env, "s3cret-value", "put", "db", "alice", "-"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputLocal: bad names, config files and store files, through the
// binary on the embedded store.
func TestBadInputLocal(t *testing.T) {
	newEnv := func(t *testing.T) ([]string, string) { return localProcessEnvDir(t) }
	runBadCases(t, newEnv, []badCase{
		{name: "empty service name", args: []string{"put", "", "alice", "x"}, code: exitUsage, want: "service name is empty"},
		{name: "empty user name", args: []string{"get", "db", ""}, code: exitUsage, want: "user name is empty"},
		{name: "oversized user name (1025 bytes)", args: []string{"put", "db", strings.Repeat("u", 1025), "x"}, code: exitUsage, want: "1025 bytes long, the limit is 1024"},
		{name: "oversized service name (2049 bytes)", args: []string{"get", strings.Repeat("s", 2049), "alice"}, code: exitUsage, want: "2049 bytes long, the limit is 2048"},
		{name: "control character in a name", args: []string{"put", "db", "a\x1bb", "x"}, code: exitUsage, want: "control character (U+001B) at byte 1"},
		{name: "format character in a name", args: []string{"put", "db", "a\u202eb", "x"}, code: exitUsage, want: "invisible format character (U+202E) at byte 1"},
		{name: "invalid UTF-8 name", args: []string{"put", "db", "a\xffb", "x"}, code: exitUsage, want: "user name is not valid UTF-8"},
		{name: "malformed config file", args: []string{"get", "db", "alice"}, code: exitUsage, want: "line 3 is not a [section] header, a comment, or key = value (its content is not shown)", never: "hunter2-in-the-wrong-file",
			setup: func(t *testing.T, env []string, dir string) []string {
				p := filepath.Join(t.TempDir(), "bad.cfg")
				writeFile(t, p, "[cloudchain]\nhistory_depth = 3\nhunter2-in-the-wrong-file\n")
				return []string{"CLOUDCHAIN_CONFIG=" + p}
			}},
		{name: "unknown config key", args: []string{"get", "db", "alice"}, code: exitUsage, want: `unknown key "tabelname" in [dynamo]`,
			setup: func(t *testing.T, env []string, dir string) []string {
				p := filepath.Join(t.TempDir(), "typo.cfg")
				writeFile(t, p, "[dynamo]\ntabelname = safedb\n")
				return []string{"CLOUDCHAIN_CONFIG=" + p}
			}},
		{name: "locked store file", args: []string{"get", "db", "alice", "--lock-timeout", "200ms"}, code: exitUnavailable, want: "locked",
			setup: func(t *testing.T, env []string, dir string) []string {
				localPut(t, env)
				db, err := bbolt.Open(filepath.Join(dir, "secrets.db"), 0o600, &bbolt.Options{Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return nil
			}},
		{name: "corrupt store file", args: []string{"get", "db", "alice"}, code: exitCorrupt, want: "corrupt", never: "s3cret-value",
			setup: func(t *testing.T, env []string, dir string) []string {
				localPut(t, env)
				writeFile(t, filepath.Join(dir, "secrets.db"), strings.Repeat("not a bbolt file ", 512))
				return nil
			}},
		{name: "store file that is a directory", args: []string{"get", "db", "alice"}, code: exitCorrupt, want: "secrets.db is damaged",
			setup: func(t *testing.T, env []string, dir string) []string {
				localPut(t, env)
				p := filepath.Join(dir, "secrets.db")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
		{name: "key file readable by others", args: []string{"get", "db", "alice"}, code: exitAuth, want: "master.key' are too open; run: chmod 600",
			setup: func(t *testing.T, env []string, dir string) []string {
				localPut(t, env)
				if err := os.Chmod(filepath.Join(dir, "master.key"), 0o644); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
		{name: "data directory is a symlink to a directory another user owns", args: []string{"put", "db", "alice", "x"}, code: exitAuth, want: "owned by uid 65534",
			setup: func(t *testing.T, env []string, dir string) []string {
				if os.Geteuid() != 0 {
					t.Skip("needs root to make a directory another user owns")
				}
				other := filepath.Join(t.TempDir(), "theirs")
				if err := os.Mkdir(other, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(other, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(other, dir); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if ents, _ := os.ReadDir(other); len(ents) > 0 {
						t.Errorf("cchain refused the directory but left %d files in it (%s...)", len(ents), ents[0].Name())
					}
				})
				return nil
			}},
	})
}

// TestBadInputAWS: a missing table, a missing, disabled or wrong KMS key,
// and a secret too large for DynamoDB, through the binary against dynalite
// and the KMS test server.
func TestBadInputAWS(t *testing.T) {
	stacks := map[string]*faultStack{}
	newEnv := func(t *testing.T) ([]string, string) {
		f := newFaultStack(t)
		stacks[t.Name()] = f
		return f.env, ""
	}
	stack := func(t *testing.T) *faultStack { return stacks[t.Name()] }
	put := func(t *testing.T, env []string, args ...string) {
		t.Helper()
		if _, errOut, code := cchainProcess(t, context.Background(), env, "s3cret-value", append([]string{"put", "db", "alice", "-"}, args...)...); code != 0 {
			t.Fatalf("put: %s", errOut)
		}
	}
	runBadCases(t, newEnv, []badCase{
		{name: "missing table", args: []string{"get", "db", "alice", "--table", "no-such-table"}, code: exitNotSetUp, want: "no-such-table"},
		{name: "missing KMS key", stdin: "x", args: []string{"put", "db", "alice", "-", "--kms-key", "alias/nope"}, code: exitNotSetUp, want: "KMS key alias/nope not found"},
		{name: "disabled KMS key", args: []string{"get", "db", "alice"}, code: exitError, want: "KMS key alias/cloudchain is disabled", never: "s3cret-value",
			setup: func(t *testing.T, env []string, _ string) []string {
				put(t, env)
				stack(t).kms.DisableKey("alias/cloudchain")
				return nil
			}},
		{name: "wrong KMS key", args: []string{"get", "db", "alice", "--kms-key", "alias/other"}, code: exitAuth, want: "different key", never: "s3cret-value",
			setup: func(t *testing.T, env []string, _ string) []string {
				put(t, env)
				stack(t).kms.CreateKey("other")
				return nil
			}},
		{name: "secret too large for DynamoDB", stdin: strings.Repeat("x", 410_000), args: []string{"put", "db", "alice", "-"}, code: exitUsage, want: "400 KB"},
	})
}
