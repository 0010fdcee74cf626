package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
)

// runAsMain makes the test binary behave as cchain, for tests that start
// real processes.
const runAsMain = "CCHAIN_TEST_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		main()
	}
	testscript.Main(stoppingM{m}, map[string]func(){
		"cchain": func() { os.Exit(run(context.Background(), os.Args[1:], newEnv())) },
	})
}

// stoppingM stops the test servers once the tests have run.
type stoppingM struct{ m *testing.M }

func (s stoppingM) Run() int {
	code := s.m.Run()
	stopServers()
	return code
}

// setupEnv gives every script an empty home and an AWS environment that can
// never reach a real AWS endpoint or read a real profile.
func setupEnv(e *testscript.Env) error {
	home := filepath.Join(e.WorkDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	e.Setenv("HOME", home)
	e.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	e.Setenv("AWS_CONFIG_FILE", filepath.Join(e.WorkDir, "no-aws-config"))
	e.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(e.WorkDir, "no-aws-credentials"))
	e.Setenv("TZ", "UTC")
	// The race detector sleeps a second at exit unless told not to.
	e.Setenv("GORACE", "atexit_sleep_ms=0")
	return nil
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               setupEnv,
		Cmds:                localCmds,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

var localCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// genbinary FILE writes every byte value, a NUL-rich and newline-free
	// binary secret.
	"genbinary": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: genbinary FILE")
		}
		b := make([]byte, 0, 512)
		for i := range 256 {
			b = append(b, byte(i))
		}
		b = append(b, 0, 0, '\r', '\n', 0xff)
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
	},
	// flipbyte SERVICE USER flips one byte of the current ciphertext of
	// (SERVICE, USER) inside the embedded store's file, as disk corruption
	// or an attacker with write access to the file would.
	"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: flipbyte SERVICE USER")
		}
		path := filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db")
		b, err := bolt.Open(path)
		ts.Check(err)
		it, err := b.Load(context.Background(), args[0], args[1])
		ts.Check(err)
		data, err := os.ReadFile(path)
		ts.Check(err)
		ct := it.Current().Ciphertext
		// bbolt may keep stale copies in free pages: flip every copy.
		if bytes.Count(data, ct) == 0 {
			ts.Fatalf("ciphertext not found in %s", path)
		}
		for i := bytes.Index(data, ct); i >= 0; {
			data[i+len(ct)/2] ^= 0x01
			j := bytes.Index(data[i+len(ct):], ct)
			if j < 0 {
				break
			}
			i += len(ct) + j
		}
		ts.Check(os.WriteFile(path, data, 0o600))
	},
	// damagestore breaks the record encoding of every item in the embedded
	// store's file, as disk corruption could.
	"damagestore": func(ts *testscript.TestScript, neg bool, args []string) {
		path := filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db")
		data, err := os.ReadFile(path)
		ts.Check(err)
		if !bytes.Contains(data, []byte("CCR1")) {
			ts.Fatalf("no record found in %s", path)
		}
		ts.Check(os.WriteFile(path, bytes.ReplaceAll(data, []byte("CCR1"), []byte("CCR\x00")), 0o600))
	},
	// moverecord SERVICE USER TOSERVICE TOUSER copies the stored item of
	// (SERVICE, USER) over (TOSERVICE, TOUSER), records and all.
	"moverecord": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 4 {
			ts.Fatalf("usage: moverecord SERVICE USER TOSERVICE TOUSER")
		}
		ctx := context.Background()
		b, err := bolt.Open(filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db"))
		ts.Check(err)
		it, err := b.Load(ctx, args[0], args[1])
		ts.Check(err)
		prev, err := b.Load(ctx, args[2], args[3])
		if errors.Is(err, cloudchain.ErrNotFound) {
			prev, err = nil, nil
		}
		ts.Check(err)
		it.Service, it.User = args[2], args[3]
		_, err = b.Save(ctx, prev, it)
		ts.Check(err)
	},
	// mayfail PROGRAM ARGS... runs a program that may fail or succeed (for
	// checks that hold either way), but must not crash.
	"mayfail": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: mayfail PROGRAM ARGS...")
		}
		var ee *exec.ExitError
		if err := ts.Exec(args[0], args[1:]...); err != nil && !(errors.As(err, &ee) && ee.ExitCode() > 0 && ee.ExitCode() < 100) {
			ts.Fatalf("%s: %v", args[0], err)
		}
	},
	// plantmeta SERVICE USER AUTHOR COMMENT rewrites the author and comment
	// of every version of (SERVICE, USER) in the embedded store's file, as
	// anyone with write access to the file could, with no key.
	"plantmeta": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 4 {
			ts.Fatalf("usage: plantmeta SERVICE USER AUTHOR COMMENT")
		}
		ctx := context.Background()
		b, err := bolt.Open(filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db"))
		ts.Check(err)
		prev, err := b.Load(ctx, args[0], args[1])
		ts.Check(err)
		it, err := b.Load(ctx, args[0], args[1])
		ts.Check(err)
		unquote := func(s string) string {
			u, err := strconv.Unquote(`"` + s + `"`)
			ts.Check(err)
			return u
		}
		for _, r := range it.Records {
			r.Author, r.Comment = unquote(args[2]), unquote(args[3])
		}
		_, err = b.Save(ctx, prev, it)
		ts.Check(err)
	},
	// plantdeleted SERVICE USER pushes a deletion marker that was not sealed
	// under the service key on top of (SERVICE, USER), as anyone with write
	// access to the file could.
	"plantdeleted": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: plantdeleted SERVICE USER")
		}
		ctx := context.Background()
		b, err := bolt.Open(filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db"))
		ts.Check(err)
		prev, err := b.Load(ctx, args[0], args[1])
		ts.Check(err)
		marker := &cloudchain.Record{Format: cloudchain.FormatV2, Version: prev.Version() + 1, Deleted: true, KeyVersion: 1,
			Author: "root", Salt: make([]byte, 32), Nonce: make([]byte, 12), Ciphertext: make([]byte, 16)}
		next := &cloudchain.Item{Service: args[0], User: args[1], Records: append([]*cloudchain.Record{marker}, prev.Records...)}
		_, err = b.Save(ctx, prev, next)
		ts.Check(err)
	},
	// nosecretondisk TEXT fails if TEXT appears in any file under $HOME.
	"nosecretondisk": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: nosecretondisk TEXT")
		}
		err := filepath.Walk(ts.Getenv("HOME"), func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte(args[0])) {
				return fmt.Errorf("%s holds the secret in plaintext", p)
			}
			return nil
		})
		ts.Check(err)
	},
	// filemode PATH MODE checks a file's permission bits (octal).
	"filemode": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: filemode PATH MODE")
		}
		fi, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		want, err := strconv.ParseUint(args[1], 8, 32)
		ts.Check(err)
		if got := fi.Mode().Perm(); uint64(got) != want {
			ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
		}
	},
}

// stopServers stops the servers that AWS tests started, if any.
var stopServers = func() {}

// lineTerminal is a terminal for tests: each readLine returns the next
// answer.
type lineTerminal struct{ answers []string }

func (l *lineTerminal) readLine(ctx context.Context, _ bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(l.answers) == 0 {
		return nil, io.EOF
	}
	a := l.answers[0]
	l.answers = l.answers[1:]
	return []byte(a), nil
}

func TestPromptAndConfirm(t *testing.T) {
	home := t.TempDir()
	newTestEnv := func(answers ...string) (*env, *bytes.Buffer, *bytes.Buffer) {
		var out, errb bytes.Buffer
		e := &env{
			stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
			lookup: func(k string) (string, bool) {
				if k == "HOME" {
					return home, true
				}
				return "", false
			},
			term: &lineTerminal{answers: answers},
		}
		return e, &out, &errb
	}
	ctx := context.Background()

	e, out, errb := newTestEnv("s3cret", "s3cret")
	if code := run(ctx, []string{"-u", "alice", "-e", "db", "-s"}, e); code != 0 {
		t.Fatalf("prompted save: exit %d, stderr %q", code, errb)
	}
	if out.String() != "Secret saved!\n" || strings.Contains(errb.String(), "s3cret") {
		t.Fatalf("stdout %q, stderr %q", out, errb)
	}
	e, out, _ = newTestEnv()
	if code := run(ctx, []string{"-u", "alice", "-e", "db", "-r"}, e); code != 0 || out.String() != "s3cret\n" {
		t.Fatalf("read after prompt: exit %d, %q", code, out)
	}

	e, _, errb = newTestEnv("one", "two")
	if code := run(ctx, []string{"put", "db", "alice"}, e); code != exitUsage {
		t.Fatalf("mismatched entries: exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errb.String(), "the two entries differ; nothing was saved") || strings.Contains(errb.String(), "one") {
		t.Fatalf("stderr %q", errb)
	}
	e, _, errb = newTestEnv("", "")
	if code := run(ctx, []string{"put", "db", "alice"}, e); code != exitUsage || !strings.Contains(errb.String(), "empty secret") {
		t.Fatalf("empty prompt: exit %d, %q", code, errb)
	}

	// Purge asks on a terminal.
	e, _, errb = newTestEnv("n")
	if code := run(ctx, []string{"delete", "db", "alice", "--purge"}, e); code != exitUsage || !strings.Contains(errb.String(), "not confirmed") {
		t.Fatalf("purge refused: exit %d, %q", code, errb)
	}
	e, out, errb = newTestEnv("yes")
	if code := run(ctx, []string{"delete", "db", "alice", "--purge"}, e); code != 0 || !strings.Contains(out.String(), "Purged db/alice") {
		t.Fatalf("purge confirmed: exit %d, %q %q", code, out, errb)
	}
	e, _, _ = newTestEnv()
	if code := run(ctx, []string{"get", "db", "alice"}, e); code != exitNotFound {
		t.Fatalf("get after purge: exit %d", code)
	}
}
