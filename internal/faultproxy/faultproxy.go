// Package faultproxy is a fault-injecting HTTP proxy for tests. It listens on
// a loopback port, forwards every request to one target (dynalite or the KMS
// test server), and replaces chosen exchanges with faults: connection resets
// before or after the server saw the request, 500 and 503 answers, the
// throttling errors of DynamoDB and KMS, slow answers, and answers that never
// come. Point an SDK client's BaseEndpoint (or cchain's endpoint_url) at
// Proxy.URL.
//
// # Determinism
//
// Faults are queued per operation (the part of the X-Amz-Target header after
// the dot, such as "PutItem" or "Decrypt"; "*" matches any operation) and
// served in order, one per request, each operation's own queue before "*".
// Persistent faults (Always) apply to every request of the operation until
// Clear. Every request is counted per operation, faulted or not, and so is
// every fault served, so that a test can bound and assert the exact number of
// requests an operation made.
//
// # Hangs
//
// A Hang holds the request until the client gives up (its context ends or it
// closes the connection) or the proxy is closed, so a test with a hang must
// bound its client in time: that is what it tests.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is a kind of fault.
type Kind int

// The faults a Proxy can inject.
const (
	// None forwards the request unchanged.
	None Kind = iota
	// Reset closes the client's connection with a TCP reset before the
	// request reaches the server: nothing was applied.
	Reset
	// ResetAfter forwards the request, so that the server applies it, and
	// then resets the client's connection instead of answering: a write
	// landed and its response was lost.
	ResetAfter
	// Status500 answers 500 with the service's internal error type, before
	// the request reaches the server.
	Status500
	// Status503 answers 503 ServiceUnavailable, before the request reaches
	// the server.
	Status503
	// Throttling answers 400 ThrottlingException, as KMS and DynamoDB do
	// when a request rate quota is exceeded.
	Throttling
	// ProvisionedThroughput answers 400
	// ProvisionedThroughputExceededException, as DynamoDB does.
	ProvisionedThroughput
	// Slow forwards the request after Fault.Delay.
	Slow
	// Hang never answers: the request is held until the client gives up or
	// the proxy closes.
	Hang
)

var kindNames = map[Kind]string{
	None: "none", Reset: "connection reset", ResetAfter: "connection reset after the server applied the request",
	Status500: "500", Status503: "503", Throttling: "ThrottlingException",
	ProvisionedThroughput: "ProvisionedThroughputExceededException", Slow: "slow answer", Hang: "answer that never comes",
}

// String names the kind of fault.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Fault is one injected fault.
type Fault struct {
	Kind Kind
	// Delay is how long a Slow fault waits before forwarding, or, with
	// After, before answering.
	Delay time.Duration
	// After makes a Slow fault forward the request at once, so that the
	// server applies it, and hold the answer for Delay.
	After bool
}

// Proxy is a fault-injecting HTTP proxy on 127.0.0.1. Its methods are safe
// for concurrent use.
type Proxy struct {
	target    string
	transport *http.Transport
	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	queued   map[string][]Fault
	always   map[string]Fault
	requests map[string]int
	served   map[string]int // faults served, by operation
	// arrived is signalled (without blocking) on every request, for tests
	// that wait for a request to be in flight.
	arrived chan string
}

// New starts a Proxy that forwards to target (such as
// "http://127.0.0.1:4567"). Close stops it.
func New(target string) (*Proxy, error) {
	if !strings.HasPrefix(target, "http://") {
		return nil, fmt.Errorf("faultproxy: target %q is not an http:// URL", target)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // loopback only: never a proxy from the environment
	p := &Proxy{
		target:    strings.TrimSuffix(target, "/"),
		transport: tr,
		closing:   make(chan struct{}),
		queued:    map[string][]Fault{},
		always:    map[string]Fault{},
		requests:  map[string]int{},
		served:    map[string]int{},
		arrived:   make(chan string, 1024),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p.ts = &httptest.Server{Listener: l, Config: &http.Server{Handler: p}}
	p.ts.Start()
	return p, nil
}

// Start is New for a test: it fails tb on error and closes the proxy when
// tb ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// URL returns the proxy's base URL.
func (p *Proxy) URL() string { return p.ts.URL }

// Close releases every held request and stops the proxy.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.ts.CloseClientConnections()
		p.ts.Close()
		p.transport.CloseIdleConnections()
	})
}

// Inject queues n faults f for operation op ("*": any operation).
func (p *Proxy) Inject(op string, n int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.queued[op] = append(p.queued[op], f)
	}
}

// Always makes every request of op ("*": any) get fault f until Clear; queued
// faults are served first.
func (p *Proxy) Always(op string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.always[op] = f
}

// Clear removes every queued and persistent fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.queued)
	clear(p.always)
}

// Count returns how many requests of op arrived since the last Reset.
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[op]
}

// Counts returns the requests per operation since the last Reset.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.requests)
}

// Total returns how many requests arrived since the last Reset.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.requests {
		n += v
	}
	return n
}

// Faulted returns how many faults were served to op since the last Reset.
func (p *Proxy) Faulted(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[op]
}

// Pending returns how many queued faults have not been served yet.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, q := range p.queued {
		n += len(q)
	}
	return n
}

// Reset zeroes the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.requests)
	clear(p.served)
}

// Arrived returns a channel that receives the operation of each request as
// it arrives (requests beyond its buffer of 1024 are not reported).
func (p *Proxy) Arrived() <-chan string { return p.arrived }

// operation returns the AWS JSON operation of r.
func operation(r *http.Request) string {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	if op == "" {
		op = r.Method + " " + r.URL.Path
	}
	return op
}

// take picks the fault for a request of op and counts the request.
func (p *Proxy) take(op string) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[op]++
	f := Fault{Kind: None}
	switch {
	case len(p.queued[op]) > 0:
		f, p.queued[op] = p.queued[op][0], p.queued[op][1:]
	case len(p.queued["*"]) > 0:
		f, p.queued["*"] = p.queued["*"][0], p.queued["*"][1:]
	default:
		if a, ok := p.always[op]; ok {
			f = a
		} else if a, ok := p.always["*"]; ok {
			f = a
		}
	}
	if f.Kind != None {
		p.served[op]++
	}
	return f
}

// ServeHTTP serves one request: a fault, or the target's answer.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	f := p.take(op)
	select {
	case p.arrived <- op:
	default:
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		reset(w)
		return
	}
	switch f.Kind {
	case Reset:
		reset(w)
		return
	case Status500:
		internal := "InternalServerError"
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService.") {
			internal = "KMSInternalException"
		}
		writeAWSError(w, r, http.StatusInternalServerError, internal)
		return
	case Status503:
		writeAWSError(w, r, http.StatusServiceUnavailable, "ServiceUnavailable")
		return
	case Throttling:
		writeAWSError(w, r, http.StatusBadRequest, "ThrottlingException")
		return
	case ProvisionedThroughput:
		writeAWSError(w, r, http.StatusBadRequest, "ProvisionedThroughputExceededException")
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		reset(w)
		return
	case Slow:
		if f.After {
			break
		}
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.closing:
			t.Stop()
			reset(w)
			return
		}
	}
	// The forwarded request must not die with the client: a ResetAfter (and
	// a client that gives up mid-request) must leave the server's work done.
	resp, err := p.forward(context.WithoutCancel(r.Context()), r, body)
	if err != nil {
		reset(w)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil || f.Kind == ResetAfter {
		reset(w)
		return
	}
	if f.Kind == Slow && f.After {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.closing:
			t.Stop()
			reset(w)
			return
		}
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	out, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// reset closes the client's connection with a TCP RST (linger 0), which the
// client sees as "connection reset by peer".
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errors.New("faultproxy: the server does not support hijacking"))
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeAWSError answers as the AWS JSON protocols do: the status, the
// x-amzn-ErrorType header and a {"__type", "message"} body.
func writeAWSError(w http.ResponseWriter, r *http.Request, status int, errType string) {
	ct := "application/x-amz-json-1.0"
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService.") {
		ct = "application/x-amz-json-1.1"
	}
	body := fmt.Sprintf(`{"__type":%q,"message":"injected fault: %s"}`, errType, errType)
	w.Header().Set("Content-Type", ct)
	if ct == "application/x-amz-json-1.0" {
		// DynamoDB checksums every answer, errors too; the SDK warns when
		// the header is missing.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	}
	w.Header().Set("X-Amzn-Errortype", errType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
