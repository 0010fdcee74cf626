package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// moto is the moto_server process the benchmark started.
type moto struct {
	cmd    *exec.Cmd
	exited chan struct{}
	url    string
}

// startMoto runs moto_server on a free loopback port, with fake credentials
// and no profile, and waits until it answers.
func startMoto(ctx context.Context, bin string) (*moto, error) {
	var errs []error
	for range 3 {
		m, err := startMotoOnce(ctx, bin)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("starting moto_server failed 3 times: %w", errors.Join(errs...))
}

func startMotoOnce(ctx context.Context, bin string) (*moto, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(fakeAWSEnv(), "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	setDeathSignal(cmd)
	m := &moto{cmd: cmd, exited: make(chan struct{}), url: "http://127.0.0.1:" + strconv.Itoa(port)}
	started := make(chan error)
	go func() {
		// The death signal follows the thread that started the child.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(m.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(m.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-m.exited:
			return nil, fmt.Errorf("moto_server on port %d exited during start-up", port)
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("moto_server on port %d did not answer within 60s", port)
		}
	}
}

func (m *moto) stop() {
	if m == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
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
