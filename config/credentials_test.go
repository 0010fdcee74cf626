package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	smithy "github.com/aws/smithy-go"
)

// awsTestEnv clears every credential source the SDK knows, so that the
// instance metadata service is its last resort, and points that at imds.
func awsTestEnv(t *testing.T, imds string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "no-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-credentials"),
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "",
		"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "", "AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "",
	} {
		t.Setenv(k, v)
	}
}

// refusing returns the URL of a loopback port where nothing listens.
func refusing(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// silent returns the URL of a loopback listener that accepts connections
// and never answers.
func silent(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// captureStderr runs fn with os.Stderr redirected, and returns what was
// written there.
func captureStderr(t *testing.T, fn func()) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	defer func() { os.Stderr = old }()
	fn()
	w.Close()
	return <-out
}

func TestNoCredentialsFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		imds func(*testing.T) string
	}{
		{"metadata service refuses", refusing},
		{"metadata service never answers", silent},
		{"metadata service has no role", func(t *testing.T) string {
			ts := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(ts.Close)
			return ts.URL
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsTestEnv(t, tc.imds(t))
			c := &Config{Backend: BackendDynamoDB, Region: "us-east-1", Table: "t", KMSKey: DefaultKeyAlias}
			var err error
			start := time.Now()
			logged := captureStderr(t, func() { _, err = c.Open(context.Background()) })
			elapsed := time.Since(start)
			if !errors.Is(err, ErrNoCredentials) || !strings.HasPrefix(err.Error(), "no AWS credentials found: ") || !strings.Contains(err.Error(), "\nhint: set AWS_PROFILE") {
				t.Fatalf("err = %v, want ErrNoCredentials with a hint", err)
			}
			if strings.Contains(strings.ToLower(err.Error()), "ec2imds") || strings.Contains(err.Error(), "operation error") {
				t.Errorf("the SDK's probe error leaks into the message: %v", err)
			}
			if logged != "" {
				t.Errorf("the SDK wrote to stderr: %q", logged)
			}
			if elapsed > IMDSBudget+500*time.Millisecond {
				t.Errorf("took %v, want at most about %v", elapsed, IMDSBudget)
			}
		})
	}
}

// The bounded provider still finds an instance role's credentials.
func TestInstanceRoleStillWorks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "token") })
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "role") })
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/role", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "AKIDROLE", "SecretAccessKey": "secret", "Token": "tok",
			"LastUpdated": time.Now().UTC().Format(time.RFC3339), "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	awsTestEnv(t, ts.URL)
	c := &Config{Backend: BackendDynamoDB, Region: "us-east-1", Table: "t", KMSKey: DefaultKeyAlias}
	cl, err := c.awsClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cl.cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDROLE" {
		t.Fatalf("credentials %+v, %v", creds, err)
	}
}

func TestCauseIsShort(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("operation error STS: GetCallerIdentity, exceeded maximum number of attempts, 2, https response error: %w", refused), "dial tcp: connect: connection refused"},
		{fmt.Errorf("operation error STS: GetCallerIdentity, https response error StatusCode: 403: %w", &smithy.GenericAPIError{Code: "AccessDenied", Message: "not allowed"}), "AccessDenied: not allowed"},
		{errors.New("something\nelse"), "something else"},
	} {
		if got := cause(tc.err); got != tc.want {
			t.Errorf("cause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
