package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
