// Package mototest runs moto (`moto_server`, an independent emulator of AWS
// KMS, DynamoDB, SSM, Secrets Manager, STS and IAM) for integration tests,
// and builds real AWS SDK clients that talk to it.
//
// # The server
//
// One moto_server process serves a whole test binary. Start starts it on
// first use, from $CLOUDCHAIN_MOTO_SERVER or else `moto_server` on PATH, on a
// free loopback port; it takes a few seconds to start. On Linux it dies with
// the test binary; Main in TestMain also stops it and reports skips.
//
// If CLOUDCHAIN_MOTO_ENDPOINT is set (scripts/test sets it), Start returns it
// and starts nothing.
//
// If moto_server is not installed, tests that need it are skipped loudly,
// except when the CI environment variable is set: then they fail, so that CI
// never skips them silently.
//
// # Independence
//
// moto keeps its state per account and region, for as long as the process
// lives. Tests that need names of their own (KMS aliases above all) take an
// account of their own: Account returns an endpoint, served by a small
// loopback proxy, that sends every request to moto in a fresh account (the
// x-moto-account-id header) and counts the requests per operation.
//
// # Credentials
//
// The clients built here use static fake credentials (AccessKeyID,
// SecretAccessKey) and region Region, and never read the environment, the
// shared config files or the instance metadata service. Env gives the
// variables that a child process (the cchain binary) needs for the same.
package mototest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cloudchain/cloudchain/internal/testproc"
)

// EndpointEnv names the environment variable that points the tests at an
// already running moto server instead of starting one.
const EndpointEnv = "CLOUDCHAIN_MOTO_ENDPOINT"

// BinaryEnv names the environment variable that names the moto_server
// executable to run, instead of the one on PATH.
const BinaryEnv = "CLOUDCHAIN_MOTO_SERVER"

// Region is the region of the clients built here.
const Region = "us-east-1"

// DefaultAccount is the account moto serves requests in when none is named.
const DefaultAccount = "123456789012"

// Fake static credentials. moto checks no signature.
const (
	AccessKeyID     = "AKIDMOTOTEST0000000"
	SecretAccessKey = "mototest/secret/key/not/a/real/one/000"
)

// server is the shared moto of this test binary.
var server = &testproc.Shared{
	Prefix:      "mototest",
	What:        "moto",
	EndpointEnv: EndpointEnv,
	Install:     "pip install 'moto[server]' (or set " + BinaryEnv + ")",
	Binary:      Binary,
	Spec:        spec,
}

// Main runs the package's tests and then stops the shared moto server, if one
// was started, saying how many tests were skipped because it is missing.
//
//	func TestMain(m *testing.M) { mototest.Main(m) }
func Main(m *testing.M) { server.Main(m) }

// Stop kills the shared moto server, if one was started, and waits for it
// to exit. Later calls to Start fail.
func Stop() { server.Stop() }

// Start returns the endpoint URL of the shared moto server, starting it on
// first use. It skips the test if moto_server is not installed (fails it
// when CI is set), and fails it if the server cannot be started.
func Start(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
}

// Binary returns the path of moto_server ($CLOUDCHAIN_MOTO_SERVER, or the one
// on PATH), or an error if it is not installed.
func Binary() (string, error) {
	if bin := os.Getenv(BinaryEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return bin, fmt.Errorf("moto_server is not installed: %w", err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("moto_server is not installed: %w", err)
	}
	return bin, nil
}

// spec runs moto_server from bin on 127.0.0.1, kept from any real AWS
// profile.
func spec(bin string) testproc.Spec {
	return testproc.Spec{
		Name: "moto_server",
		Command: func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
			// moto reads no credentials, but keep it from any real profile.
			// MOTO_ACCOUNT_ID would override the account of every request.
			cmd.Env = append(without(os.Environ(), "MOTO_ACCOUNT_ID"), "AWS_ACCESS_KEY_ID="+AccessKeyID, "AWS_SECRET_ACCESS_KEY="+SecretAccessKey,
				"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent/mototest-config",
				"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/mototest-credentials")
			return cmd, nil
		},
		Ready: func(endpoint string, exited <-chan struct{}) error {
			return testproc.WaitHTTP(endpoint+"/moto-api/", 60*time.Second, exited, func(status int, _ []byte) bool { return status == http.StatusOK })
		},
	}
}

// without drops the variable name from env.
func without(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Logs returns what the shared moto server has printed so far.
func Logs() string { return server.Logs() }

// Env returns the environment variables a child process needs to talk to
// moto with fake credentials and nothing else: no profile, no instance
// metadata, no endpoint from the parent's environment.
func Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       SecretAccessKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  Region,
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/mototest-credentials",
		"AWS_CONFIG_FILE":             "/nonexistent/mototest-config",
	}
}

// Config returns an SDK configuration for endpoint with static fake
// credentials and region Region, reading nothing from the environment. Its
// idle connections are closed when tb ends.
func Config(tb testing.TB, endpoint string) aws.Config {
	cfg := ClientConfig(endpoint)
	tb.Cleanup(cfg.HTTPClient.(*http.Client).CloseIdleConnections)
	return cfg
}

// ClientConfig is Config for callers that are not tests (testscript
// setups).
func ClientConfig(endpoint string) aws.Config {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only: never through a proxy from the environment
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: transport, Timeout: 30 * time.Second},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 50 * time.Millisecond })
		},
	}
}

// DynamoDB returns a DynamoDB client for endpoint.
func DynamoDB(tb testing.TB, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(Config(tb, endpoint))
}

// KMS returns a KMS client for endpoint.
func KMS(tb testing.TB, endpoint string) *kms.Client { return kms.NewFromConfig(Config(tb, endpoint)) }

// SSM returns an SSM client for endpoint.
func SSM(tb testing.TB, endpoint string) *ssm.Client { return ssm.NewFromConfig(Config(tb, endpoint)) }

// SecretsManager returns a Secrets Manager client for endpoint.
func SecretsManager(tb testing.TB, endpoint string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(Config(tb, endpoint))
}

// CreateKey creates a symmetric KMS key named by alias (which starts with
// "alias/") and returns the key's ARN.
func CreateKey(tb testing.TB, client *kms.Client, alias string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arn, err := NewKey(ctx, client, alias)
	if err != nil {
		tb.Fatalf("mototest: %v", err)
	}
	return arn
}

// NewKey is CreateKey for callers that are not tests (testscript setups).
func NewKey(ctx context.Context, client *kms.Client, alias string) (string, error) {
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("mototest " + alias)})
	if err != nil {
		return "", fmt.Errorf("creating a KMS key: %w", err)
	}
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		return "", fmt.Errorf("creating the alias %s: %w", alias, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// newAccountID returns a random 12-digit account id, never DefaultAccount.
func newAccountID() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(899_999_999_999))
	if err != nil {
		return "", fmt.Errorf("choosing an account id: %w", err)
	}
	id := strconv.FormatInt(n.Int64()+100_000_000_000, 10)
	if id == DefaultAccount {
		return newAccountID()
	}
	return id, nil
}

// Account is a loopback proxy in front of moto that serves every request in
// one account of its own, counts requests per operation, and can answer
// chosen requests with an injected error instead of passing them on.
type Account struct {
	// URL is the endpoint to give clients.
	URL string
	// ID is the account id.
	ID string

	srv       *http.Server
	transport *http.Transport

	mu            sync.Mutex
	counts        map[string]int
	faults        map[string][]fault
	incorrectKeys bool
}

type fault struct {
	code   string
	status int
}

// NewAccount starts a proxy to endpoint with a fresh account, closed when tb
// ends.
func NewAccount(tb testing.TB, endpoint string) *Account {
	tb.Helper()
	a, err := OpenAccount(endpoint)
	if err != nil {
		tb.Fatalf("mototest: %v", err)
	}
	tb.Cleanup(a.Close)
	return a
}

// OpenAccount starts a proxy to endpoint with a fresh account. Close it.
func OpenAccount(endpoint string) (*Account, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("the moto endpoint: %w", err)
	}
	id, err := newAccountID()
	if err != nil {
		return nil, err
	}
	a := &Account{ID: id, counts: map[string]int{}, faults: map[string][]fault{}}
	a.transport = http.DefaultTransport.(*http.Transport).Clone()
	a.transport.Proxy = nil
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the signature covers the host
			r.Out.Header.Set("x-moto-account-id", a.ID)
		},
		Transport:      a.transport,
		ModifyResponse: a.modifyResponse,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the account proxy: %w", err)
	}
	a.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op := r.Header.Get("X-Amz-Target")
			if i := strings.LastIndexByte(op, '.'); i >= 0 {
				op = op[i+1:]
			}
			a.mu.Lock()
			a.counts[op]++
			var f *fault
			if q := a.faults[op]; len(q) > 0 {
				f = &q[0]
				a.faults[op] = q[1:]
			}
			a.mu.Unlock()
			if f != nil {
				// The JSON protocol's error shape (KMS, DynamoDB, SSM,
				// Secrets Manager).
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.Header().Set("X-Amzn-Errortype", f.code)
				w.WriteHeader(f.status)
				fmt.Fprintf(w, `{"__type":%q,"message":"injected by mototest"}`, f.code)
				return
			}
			if op == "Decrypt" && a.translating() {
				// Note whether the request names a key, for modifyResponse.
				body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				var in struct{ KeyId string }
				if json.Unmarshal(body, &in) == nil && in.KeyId != "" {
					r.Header.Set(namesKeyHeader, "1")
				}
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = a.srv.Serve(l) }()
	a.URL = "http://" + l.Addr().String()
	return a, nil
}

// namesKeyHeader marks, between the proxy's handler and its response
// hook, a Decrypt request that names a key.
const namesKeyHeader = "X-Mototest-Names-Key"

// TranslateIncorrectKey makes the proxy answer as AWS does where moto does
// not: a Decrypt that names a KeyId other than the ciphertext's key gets
// IncorrectKeyException from AWS, and AccessDeniedException with no message
// from moto 5.2.1. With it on, every such bare AccessDeniedException to a
// Decrypt that names a key becomes IncorrectKeyException. Use it only where
// no key policy can deny a request (moto raises the same bare error for
// those), and see docs/design-as-built.md on the differences between the emulators.
func (a *Account) TranslateIncorrectKey() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.incorrectKeys = true
}

func (a *Account) translating() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.incorrectKeys
}

func (a *Account) modifyResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusBadRequest || resp.Request.Header.Get(namesKeyHeader) == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	var e map[string]any
	if json.Unmarshal(body, &e) == nil && e["__type"] == "AccessDeniedException" && e["message"] == nil && e["Message"] == nil {
		body = []byte(`{"__type":"IncorrectKeyException","message":"The key ID in the request does not identify the key that can decrypt the ciphertext (translated by mototest from moto's AccessDeniedException)"}`)
		resp.Header.Del("X-Amzn-Errortype")
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// Close stops the proxy.
func (a *Account) Close() {
	_ = a.srv.Close()
	a.transport.CloseIdleConnections()
}

// Fail makes the next n requests of operation op fail with the error code
// (ThrottlingException, AccessDeniedException, ...) and HTTP status, without
// reaching moto.
func (a *Account) Fail(op string, n int, code string, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.faults[op] = append(a.faults[op], fault{code, status})
	}
}

// ClearFaults drops every pending fault.
func (a *Account) ClearFaults() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.faults)
}

// Count returns how many requests of operation op (the part of X-Amz-Target
// after the dot, such as "Decrypt") went through since the last Reset.
func (a *Account) Count(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[op]
}

// Counts returns a copy of every count.
func (a *Account) Counts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.counts))
	for k, v := range a.counts {
		m[k] = v
	}
	return m
}

// Reset sets every count to zero.
func (a *Account) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.counts)
}
