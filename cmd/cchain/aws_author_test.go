package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/ststest"
)

// seedConfig writes a ~/.cchainrc as the Python tool's users have it: a
// [dynamo] section with an endpoint_url and nothing of cloudchain's own.
func seedConfig(t *testing.T, home, dynamo, table string) {
	t.Helper()
	cfg := fmt.Sprintf("[dynamo]\nregion_name = us-east-1\nendpoint_url = %s\ntablename = %s\n\n[IAMKMS]\nkeyalias = alias/cloudchain\n", dynamo, table)
	if err := os.WriteFile(filepath.Join(home, ".cchainrc"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// envList turns the servers' environment into a process environment, with
// over on top.
func envList(s *awsServers, over map[string]string) []string {
	m := s.env()
	for k, v := range over {
		m[k] = v
	}
	var env []string
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}

// runBounded runs cchain with a deadline well past the bound under test, so that a
// hang fails the test instead of stalling the suite.
func runBounded(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	stdout, stderr, code = cchainProcess(t, ctx, env, stdin, args...)
	return stdout, stderr, code, time.Since(start)
}

// TestAuthorLookupNeverFailsOrDelaysAPut is issue 12.1: with the seed's own
// config and an STS endpoint that refuses connections or never answers, a
// save succeeds within the author lookup's bound, warns once, and records no
// author.
func TestAuthorLookupNeverFailsOrDelaysAPut(t *testing.T) {
	s := startAWS(t)
	refusing, err := ststest.RefusingURL()
	if err != nil {
		t.Fatal(err)
	}
	silent, err := ststest.NewSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	for _, tc := range []struct {
		name, sts string
	}{
		{"sts refuses connections", refusing},
		{"sts never answers", silent.URL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			seedConfig(t, home, s.dynamo, dynalitetest.TableName(t))
			env := envList(s, map[string]string{
				"HOME": home, "CLOUDCHAIN_CONFIG": "", "XDG_DATA_HOME": "",
				"AWS_ENDPOINT_URL_KMS": s.kms.URL(), "AWS_ENDPOINT_URL_STS": tc.sts,
			})
			if _, errOut, code, _ := runBounded(t, env, "", "setup"); code != 0 {
				t.Fatalf("setup: exit %d: %s", code, errOut)
			}

			_, errOut, code, took := runBounded(t, env, "s3cret", "put", "db", "alice", "-")
			if code != 0 {
				t.Fatalf("put: exit %d after %v: %s", code, took, errOut)
			}
			if took > 3*time.Second {
				t.Errorf("put took %v, want at most about 3s (the author lookup is bounded to 1s)", took)
			}
			t.Logf("put took %v; stderr: %s", took, errOut)
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "cchain: warning: ") || !strings.Contains(lines[0], "author") {
				t.Errorf("stderr = %q, want exactly one `cchain: warning: ...` line about the author", errOut)
			}

			out, errOut, code, _ := runBounded(t, env, "", "history", "db", "alice", "--json")
			if code != 0 {
				t.Fatalf("history: exit %d: %s", code, errOut)
			}
			if strings.Contains(out, `"author"`) || strings.Contains(out, "arn:aws:iam") {
				t.Errorf("history records an author: %s", out)
			}
			out, _, code, _ = runBounded(t, env, "", "get", "db", "alice")
			if code != 0 || out != "s3cret\n" {
				t.Errorf("get: exit %d, %q", code, out)
			}
		})
	}
}

// TestNoAWSCredentialsFailsFast is issue 12.13: with no credentials, the
// probe of the EC2 metadata service is bounded and silent, and the error
// says how to provide credentials.
func TestNoAWSCredentialsFailsFast(t *testing.T) {
	s := startAWS(t)
	refusing, err := ststest.RefusingURL()
	if err != nil {
		t.Fatal(err)
	}
	silent, err := ststest.NewSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, tc := range []struct {
		name, imds string
	}{
		{"metadata service refuses", refusing},
		{"metadata service never answers", silent.URL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			seedConfig(t, home, s.dynamo, dynalitetest.TableName(t))
			env := envList(s, map[string]string{
				"HOME": home, "CLOUDCHAIN_CONFIG": "", "XDG_DATA_HOME": "",
				"AWS_ENDPOINT_URL_KMS": s.kms.URL(),
				"AWS_ACCESS_KEY_ID":    "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
				"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
				"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": tc.imds,
			})
			_, errOut, code, took := runBounded(t, env, "", "get", "db", "alice")
			t.Logf("took %v; stderr: %s", took, errOut)
			if code != 7 {
				t.Errorf("exit %d, want 7 (no credentials)", code)
			}
			if !strings.HasPrefix(errOut, "cchain: no AWS credentials found") || !strings.Contains(errOut, "\nhint: set AWS_PROFILE") {
				t.Errorf("stderr = %q, want the no-credentials error and its hint", errOut)
			}
			for _, leak := range []string{"WARN", "IMDS", "ec2imds", "operation error", "falling back"} {
				if strings.Contains(errOut, leak) {
					t.Errorf("stderr shows the SDK's %q: %q", leak, errOut)
				}
			}
			if took > 3*time.Second {
				t.Errorf("took %v, want about 1s at most", took)
			}
		})
	}
}

// TestConfigAndKeyFileRegressions runs the real binary on the embedded
// store for issues 12.8, 12.9 and 12.11: relative data directories, config
// files that are not config files, a negative --lock-timeout, and damaged
// key files.
func TestConfigAndKeyFileRegressions(t *testing.T) {
	const password = "hunter2-password-line"
	work := t.TempDir()
	passwordFile := filepath.Join(work, "password.txt")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	relConfig := filepath.Join(work, "rel.cchainrc")
	if err := os.WriteFile(relConfig, []byte("[cloudchain]\ndata_dir = relative/dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(work, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"relative data_dir env", []string{"CLOUDCHAIN_DATA_DIR=relative/dir"}, []string{"put", "db", "alice", "-"}, exitUsage, `CLOUDCHAIN_DATA_DIR "relative/dir" is a relative path`},
		{"relative data_dir in the file", []string{"CLOUDCHAIN_DATA_DIR=", "CLOUDCHAIN_CONFIG=" + relConfig}, []string{"put", "db", "alice", "-"}, exitUsage, `rel.cchainrc`},
		{"relative --data-dir", nil, []string{"--data-dir", "rel", "put", "db", "alice", "-"}, exitUsage, `--data-dir "rel" is a relative path`},
		{"unknown ~user", []string{"CLOUDCHAIN_DATA_DIR=~nosuchuser-cchain/x"}, []string{"get", "db", "alice"}, exitUsage, `there is no user "nosuchuser-cchain"`},
		{"config is a password file", []string{"CLOUDCHAIN_CONFIG=" + passwordFile}, []string{"get", "db", "alice"}, exitUsage, "password.txt: line 1 is not a [section] header"},
		{"config is a FIFO", []string{"CLOUDCHAIN_CONFIG=" + fifo}, []string{"get", "db", "alice"}, exitUsage, "is a named pipe, not a regular file"},
		{"config is /dev/zero", []string{"CLOUDCHAIN_CONFIG=/dev/zero"}, []string{"get", "db", "alice"}, exitUsage, "is a character device, not a regular file"},
		{"negative --lock-timeout", nil, []string{"--lock-timeout", "-1s", "get", "db", "alice"}, exitUsage, `--lock-timeout "-1s" is not a duration of 0 or more`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, dataDir := localProcessEnvDir(t)
			cwd := t.TempDir()
			_, errOut, code, took := runBoundedIn(t, cwd, append(env, tc.env...), "s3cret", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d with %q", code, errOut, tc.code, tc.stderr)
			}
			if strings.Contains(errOut, "hunter2") {
				t.Fatalf("stderr shows the config file's content: %q", errOut)
			}
			if took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
			for _, dir := range []string{cwd, dataDir} {
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Fatalf("files were created in %s: %v", dir, entries)
				}
			}
		})
	}

	t.Run("relative XDG_DATA_HOME is ignored", func(t *testing.T) {
		env, _ := localProcessEnvDir(t)
		home, cwd := t.TempDir(), t.TempDir()
		env = append(env, "HOME="+home, "CLOUDCHAIN_DATA_DIR=", "XDG_DATA_HOME=rel")
		if _, errOut, code, _ := runBoundedIn(t, cwd, env, "s3cret", "put", "db", "alice", "-"); code != 0 {
			t.Fatalf("put: exit %d: %s", code, errOut)
		}
		if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
			t.Fatalf("files were created in the working directory: %v", entries)
		}
		if _, err := os.Stat(filepath.Join(home, ".local/share/cloudchain/master.key")); err != nil {
			t.Fatalf("the key is not in ~/.local/share/cloudchain: %v", err)
		}
	})

	for name, damage := range map[string]func(key []byte) []byte{
		"truncated key file": func(key []byte) []byte { return key[:len(key)-10] },
		"empty key file":     func([]byte) []byte { return nil },
		"not a key file":     func([]byte) []byte { return []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n") },
	} {
		t.Run(name, func(t *testing.T) {
			env, dataDir := localProcessEnvDir(t)
			if _, errOut, code, _ := runBoundedIn(t, "", env, "s3cret", "put", "db", "alice", "-"); code != 0 {
				t.Fatalf("put: %d %s", code, errOut)
			}
			keyPath := filepath.Join(dataDir, "master.key")
			key, err := os.ReadFile(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyPath, damage(key), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"get", "db", "alice"}, {"put", "db", "alice", "-"}} {
				_, errOut, code, _ := runBoundedIn(t, "", env, "new", args...)
				if code != exitAuth || !strings.Contains(errOut, "not a valid cloudchain local key file") || !strings.Contains(errOut, "\nhint: restore the key file") {
					t.Fatalf("%v: exit %d, stderr %q; want %d and the bad key file error", args, code, errOut, exitAuth)
				}
			}
		})
	}
}

// runBoundedIn is runBounded in the working directory dir ("" for the
// test's own).
func runBoundedIn(t *testing.T, dir string, env []string, stdin string, args ...string) (stdout, stderr string, code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running cchain: %v", err)
	}
	return out.String(), errb.String(), code, took
}

// TestReplacedMasterKeyRefusesWrites is issue 12.10: after the master key
// file is replaced by another valid key, a put is refused (exit 6) instead
// of writing a version that the old key cannot read, and once the right key
// is back every version reads.
func TestReplacedMasterKeyRefusesWrites(t *testing.T) {
	env, dataDir := localProcessEnvDir(t)
	otherEnv, otherDir := localProcessEnvDir(t)
	for _, e := range [][]string{env, otherEnv} {
		if _, errOut, code, _ := runBoundedIn(t, "", e, "v1", "put", "db", "alice", "-"); code != 0 {
			t.Fatalf("put: exit %d: %s", code, errOut)
		}
	}
	keyPath := filepath.Join(dataDir, "master.key")
	original, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(otherDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, other, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code, _ := runBoundedIn(t, "", env, "v2", "put", "db", "alice", "-")
	t.Logf("put under a replaced key: %s", errOut)
	if code != exitAuth {
		t.Fatalf("put under a replaced key: exit %d, stderr %q; want %d", code, errOut, exitAuth)
	}
	if err := os.WriteFile(keyPath, original, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code, _ := runBoundedIn(t, "", env, "", "get", "db", "alice")
	if code != 0 || out != "v1\n" {
		t.Fatalf("get with the original key back: exit %d, %q, %s", code, out, errOut)
	}
	if _, errOut, code, _ := runBoundedIn(t, "", env, "v2", "put", "db", "alice", "-"); code != 0 {
		t.Fatalf("put with the original key back: exit %d: %s", code, errOut)
	}
}
