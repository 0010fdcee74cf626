// Package dynalitetest runs dynalite, a DynamoDB-compatible server, for
// integration tests, and builds real AWS SDK clients that talk to it.
//
// # The server
//
// One dynalite process serves a whole test binary. It is started on first use
// by Start from <repo root>/node_modules/.bin/dynalite (install it with
// `npm ci` at the repo root), in memory, on a free loopback port, with table
// state changes made instant. Use Main in TestMain to stop it when the tests
// end; on Linux it also dies with the test binary if Main is not used.
//
// If CLOUDCHAIN_DYNAMODB_ENDPOINT is set, Start returns it and starts nothing,
// so the same tests can run against any DynamoDB-compatible server.
//
// If dynalite is not installed, tests that need it are skipped, except when
// the CI environment variable is set: CI must never skip them silently, so
// they fail. A skip is loud: Main prints one banner before and after the
// tests saying that the DynamoDB tests were skipped and how many, and the
// first skip carries the full reason while the others say only "see above".
// (go test shows a passing package's output only with -v; scripts/test
// installs dynalite, so it never skips.) DynaliteEnv names a dynalite
// executable to use instead of the one under node_modules.
//
// # Independence
//
// Every test should use its own table: TableName gives a fresh name, and
// NewTable creates a table with cloudchain's key schema.
//
// # Counting requests
//
// NewCountingClient returns a client together with a Counter that counts the
// HTTP requests it sends, per DynamoDB operation, retries included, so tests
// can assert the request budget of an operation exactly.
package dynalitetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain/internal/testproc"
)

// EndpointEnv names the environment variable that points the tests at an
// already running DynamoDB-compatible server instead of starting dynalite.
const EndpointEnv = "CLOUDCHAIN_DYNAMODB_ENDPOINT"

// DynaliteEnv names the environment variable that points at the dynalite
// executable to run, instead of <repo root>/node_modules/.bin/dynalite.
const DynaliteEnv = "CLOUDCHAIN_DYNALITE"

// Region is the region of the clients built by NewClient.
const Region = "us-east-1"

// server is the shared dynalite of this test binary.
var server = &testproc.Shared{
	Prefix:      "dynalitetest",
	What:        "DynamoDB",
	EndpointEnv: EndpointEnv,
	Install:     "run `npm ci` at the repo root",
	Binary:      Binary,
	Spec:        spec,
}

// Main runs the package's tests and then stops the shared dynalite server,
// if one was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { dynalitetest.Main(m) }
func Main(m *testing.M) { server.Main(m) }

// Stop kills the shared dynalite server, if one was started, and waits for
// it to exit. Main calls it; later calls to Start fail.
func Stop() { server.Stop() }

// Start returns the endpoint URL of the shared DynamoDB-compatible server,
// starting dynalite on first use. It skips the test if dynalite is not
// installed (fails it instead when CI is set), and fails it if the server
// cannot be started.
func Start(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
}

// StartPrivate starts a dynalite process of tb's own, beside the shared
// one, and returns its endpoint URL; it is killed when tb ends. Tests that
// need two servers (two regions of a global table, one of them taken down)
// use it. It skips or fails as Start does when dynalite is missing, and
// ignores EndpointEnv: two regions need two servers.
func StartPrivate(tb testing.TB) string {
	tb.Helper()
	return server.Private(tb)
}

// Serve starts the shared dynalite process for a program that is not a test
// (the local AWS stand-in, internal/localaws): loopback only, a free port,
// tables active at once. Stop ends it.
func Serve() (endpoint string, err error) { return server.Serve() }

// Logs returns what the shared dynalite server has printed so far, for
// debugging a failing test.
func Logs() string { return server.Logs() }

// Binary returns the path of the dynalite executable ($CLOUDCHAIN_DYNALITE,
// or the one under the repo root's node_modules), or an error if it is not
// installed there.
func Binary() (string, error) {
	if bin := os.Getenv(DynaliteEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return bin, fmt.Errorf("dynalite is not installed: %w", err)
		}
		return bin, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return bin, fmt.Errorf("dynalite is not installed: %w", err)
	}
	return bin, nil
}

// repoRoot walks up from the working directory (the package directory under
// go test) to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// spec runs dynalite from bin on 127.0.0.1 with tables active at once,
// under the abort guard where node runs it (dynalite's --port 0 does not
// work: testproc picks a free port, and another when it was taken).
func spec(bin string) testproc.Spec {
	var guard string
	return testproc.Spec{
		Name:  "dynalite",
		Tries: 5,
		Command: func(port int) (*exec.Cmd, error) {
			args := []string{
				"--host", "127.0.0.1",
				"--port", strconv.Itoa(port),
				"--createTableMs", "0",
				"--deleteTableMs", "0",
				"--updateTableMs", "0",
			}
			g, node, ok := abortGuard(bin)
			if !ok {
				return exec.Command(bin, args...), nil
			}
			guard = g
			return exec.Command(node, append([]string{"--require", g, bin}, args...)...), nil
		},
		Ready: func(endpoint string, exited <-chan struct{}) error {
			// Node has read the guard once the server answers (or has
			// exited).
			defer func() {
				if guard != "" {
					os.Remove(guard)
				}
			}()
			return testproc.WaitHTTP(endpoint+"/", 20*time.Second, exited, func(status int, body []byte) bool {
				return status == http.StatusOK && bytes.HasPrefix(body, []byte("healthy"))
			})
		},
	}
}

// NewClient returns a real DynamoDB SDK client for endpoint, with static fake
// credentials and region us-east-1. It never reads the environment, the
// shared config files or the instance metadata service.
func NewClient(tb testing.TB, endpoint string) *dynamodb.Client {
	tb.Helper()
	c, _ := NewCountingClient(tb, endpoint)
	return c
}

// NewCountingClient is NewClient, and also returns a Counter of the HTTP
// requests the client sends.
func NewCountingClient(tb testing.TB, endpoint string) (*dynamodb.Client, *Counter) {
	tb.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only: never go through a proxy from the environment
	tb.Cleanup(transport.CloseIdleConnections)
	counter := &Counter{base: transport, counts: map[string]int{}}
	client := dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDCLOUDCHAINTEST", "cloudchain-test-secret", ""),
		HTTPClient:   &http.Client{Transport: counter, Timeout: 30 * time.Second},
	})
	return client, counter
}

// Counter counts the HTTP requests of a client per DynamoDB operation (the
// part of X-Amz-Target after the dot, such as "GetItem"). Each retry counts
// as a request. It is safe for concurrent use.
type Counter struct {
	base   http.RoundTripper
	mu     sync.Mutex
	counts map[string]int
	faults map[string][]fault
	// failed holds, per SDK invocation (the amz-sdk-invocation-id header
	// every attempt of one call shares), why its last attempt failed when
	// the test did not inject that failure.
	failed map[string]string
	// retries counts, per operation, attempts made after a failure the test
	// did not inject; reasons says what those failures were.
	retries map[string]int
	reasons []string
}

// RoundTrip counts req and sends it.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	if op == "" {
		op = req.Method + " " + req.URL.Path
	}
	inv := req.Header.Get("Amz-Sdk-Invocation-Id")
	c.mu.Lock()
	c.counts[op]++
	f := c.takeFault(op)
	if reason, ok := c.failed[inv]; ok && inv != "" && !strings.HasPrefix(req.Header.Get("Amz-Sdk-Request"), "attempt=1;") {
		if c.retries == nil {
			c.retries = map[string]int{}
		}
		c.retries[op]++
		c.reasons = append(c.reasons, op+": "+reason)
	}
	delete(c.failed, inv)
	c.mu.Unlock()
	resp, err := f.roundTrip(c.base, req)
	if f == nil && inv != "" {
		// Not a fault of the test's: a pooled connection the server had
		// just closed, a 5xx or a throttling answer from a loaded server.
		// The SDK may retry it; Retries counts that attempt.
		reason := ""
		switch {
		case err != nil:
			reason = "transport: " + err.Error()
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			reason = resp.Status
		case resp.StatusCode >= 400 && strings.Contains(resp.Header.Get("X-Amzn-Errortype"), "Throttl"):
			reason = resp.Status + " " + resp.Header.Get("X-Amzn-Errortype")
		case resp.StatusCode == http.StatusOK:
		default:
			reason = resp.Status
		}
		if reason == "" {
			// A 200 may still be retried (a body cut short, a CRC32
			// mismatch): read it here to say which, should the SDK retry.
			reason = "a 200 the client refused: " + checkBody(resp)
		}
		c.mu.Lock()
		if c.failed == nil {
			c.failed = map[string]string{}
		}
		c.failed[inv] = reason
		c.mu.Unlock()
	}
	return resp, err
}

// Retries returns, per operation since the last Reset, how many requests
// were retries of a failure the test did not inject (the SDK's retryer at
// work against a loaded server), and what those failures were. Each is one
// request more than the operation's design sends.
func (c *Counter) Retries() (map[string]int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.retries))
	for k, v := range c.retries {
		m[k] = v
	}
	return m, append([]string(nil), c.reasons...)
}

// Operations returns Counts without the retries Retries reports: the
// requests the code under test made by design. Each retry left out is logged
// on tb with its cause.
func (c *Counter) Operations(tb testing.TB) map[string]int {
	tb.Helper()
	got := c.Counts()
	retries, reasons := c.Retries()
	for op, n := range retries {
		tb.Logf("%d %s requests were the SDK retrying a failure no test injected; not counted (%s)", n, op, strings.Join(reasons, "; "))
		if got[op] -= n; got[op] <= 0 {
			delete(got, op)
		}
	}
	return got
}

// Count returns how many requests of operation op were sent since the last
// Reset.
func (c *Counter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Total returns how many requests were sent since the last Reset.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Counts returns a copy of the counts per operation since the last Reset.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		m[k] = v
	}
	return m
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.counts)
	clear(c.retries)
	c.reasons = nil
}

// TableName returns a fresh table name for tb: its name, made safe, and a
// random suffix.
func TableName(tb testing.TB) string {
	tb.Helper()
	var sb strings.Builder
	sb.WriteString("cctest-")
	for _, r := range tb.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
		if sb.Len() >= 180 {
			break
		}
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		tb.Fatalf("dynalitetest: %v", err)
	}
	sb.WriteByte('-')
	sb.WriteString(hex.EncodeToString(suffix[:]))
	return sb.String()
}

// NewTable creates a fresh table with cloudchain's key schema (Service HASH,
// Username RANGE, both strings), waits until it is active, deletes it when
// the test ends, and returns its name.
func NewTable(tb testing.TB, client *dynamodb.Client) string {
	tb.Helper()
	name := TableName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("Service"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("Username"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("Service"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("Username"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		tb.Fatalf("dynalitetest: creating table %s: %v", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 20*time.Second); err != nil {
		tb.Fatalf("dynalitetest: waiting for table %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			tb.Logf("dynalitetest: deleting table %s: %v", name, err)
		}
	})
	return name
}

// guardJS keeps dynalite up when a client goes away in the middle of a
// request (a process killed by a test): dynalite 4.0.0 throws the request's
// "aborted" error (ECONNRESET), which ends the whole server and every test
// sharing it. Only that error is ignored; any other still ends the process.
const guardJS = `process.on('uncaughtException', function (err) {
  if (err && err.code === 'ECONNRESET' && err.message === 'aborted') return
  console.error(err)
  process.exit(1)
})
`

// abortGuard writes guardJS to a file and returns it with the node binary,
// when bin is dynalite's JavaScript entry point.
func abortGuard(bin string) (guard, node string, ok bool) {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil || !strings.HasSuffix(real, ".js") {
		return "", "", false
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", false
	}
	f, err := os.CreateTemp("", "dynalite-guard-*.js")
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	if _, err := f.WriteString(guardJS); err != nil {
		return "", "", false
	}
	return f.Name(), node, true
}

// checkBody reads resp's body into memory (putting it back for the client)
// and says whether it arrived whole and matches its X-Amz-Crc32 header.
func checkBody(resp *http.Response) string {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return fmt.Sprintf("reading the body failed after %d bytes: %v", len(body), err)
	}
	if want := resp.Header.Get("X-Amz-Crc32"); want != "" && want != strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10) {
		return fmt.Sprintf("the CRC32 of its %d bytes is %d, the header says %s", len(body), crc32.ChecksumIEEE(body), want)
	}
	return fmt.Sprintf("%d bytes, whole and matching their CRC32", len(body))
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
