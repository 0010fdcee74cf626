package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudchain/cloudchain/internal/testproc"
)

// moto is the moto_server process the benchmark started.
type moto struct {
	p   *testproc.Process
	url string
}

// startMoto runs moto_server on a free loopback port, with fake credentials
// and no profile, and waits until it answers (within 60 s).
func startMoto(ctx context.Context, bin string) (*moto, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := testproc.Start(testproc.Spec{
		Name: "moto_server",
		Command: func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
			cmd.Env = append(fakeAWSEnv(), "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
			return cmd, nil
		},
		Ready: func(endpoint string, exited <-chan struct{}) error {
			return testproc.WaitHTTP(endpoint+"/moto-api/", 60*time.Second, exited, func(status int, _ []byte) bool { return status == http.StatusOK })
		},
	})
	if err != nil {
		return nil, err
	}
	return &moto{p: p, url: p.Endpoint}, nil
}

func (m *moto) stop() {
	if m != nil {
		m.p.Stop()
	}
}

// counter is a loopback reverse proxy in front of moto that counts the
// requests by service and operation (X-Amz-Target for KMS and DynamoDB,
// the form's Action for STS) and can add a fixed latency per service.
type counter struct {
	srv       *http.Server
	transport *http.Transport
	url       string
	latency   map[string]time.Duration

	mu     sync.Mutex
	counts map[string]int // "KMS Decrypt", "DynamoDB Query", ...
}

func newCounter(upstream string, latency map[string]time.Duration) (*counter, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the counting proxy: %w", err)
	}
	c := &counter{latency: latency, counts: map[string]int{}, url: "http://" + l.Addr().String()}
	c.transport = &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = c.transport
	c.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc, op := operation(r)
		c.mu.Lock()
		c.counts[svc+" "+op]++
		c.mu.Unlock()
		if d := c.latency[svc]; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = c.srv.Serve(l) }()
	return c, nil
}

// operation names the service and operation of an AWS request.
func operation(r *http.Request) (service, op string) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		prefix, op, _ := strings.Cut(t, ".")
		switch {
		case prefix == "TrentService":
			return "KMS", op
		case strings.HasPrefix(prefix, "DynamoDB"):
			return "DynamoDB", op
		case strings.HasPrefix(prefix, "AmazonSSM"):
			return "SSM", op
		}
		return prefix, op
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if v, perr := url.ParseQuery(string(body)); err == nil && perr == nil && v.Get("Action") != "" {
			return "STS", v.Get("Action")
		}
	}
	return "other", r.Method + " " + r.URL.Path
}

// take returns the counts since the last call and resets them.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.counts
	c.counts = map[string]int{}
	return m
}

func (c *counter) close() {
	_ = c.srv.Close()
	c.transport.CloseIdleConnections()
}

// Fake static credentials: moto checks no signature.
const (
	accessKeyID     = "AKIDPEERSBENCH00000"
	secretAccessKey = "peers/bench/not/a/real/key/0000000000"
	region          = "us-east-1"
)

// fakeAWSEnv keeps every AWS client (Go SDK, boto3) from real profiles,
// credentials and the instance metadata service.
func fakeAWSEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/nonexistent/peers-bench-config",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/peers-bench-credentials",
	}
}
