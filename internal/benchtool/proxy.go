package main

import (
	"bytes"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// proxy is a loopback reverse proxy in front of one test server. It delays
// every request by a fixed latency, to stand for the network and service
// time of the real AWS endpoint, and counts the requests by operation.
type proxy struct {
	name    string
	latency time.Duration
	rp      *httputil.ReverseProxy
	srv     *http.Server
	url     string

	mu     sync.Mutex
	counts map[string]int
}

// newProxy starts a proxy on a free port of 127.0.0.1 that forwards to
// upstream (a base URL).
func newProxy(name, upstream string, latency time.Duration) (*proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{name: name, latency: latency, counts: map[string]int{}, url: "http://" + l.Addr().String()}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(l)
	return p, nil
}

// ServeHTTP counts the request, waits for the latency, and forwards it.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	p.mu.Lock()
	p.counts[op]++
	p.mu.Unlock()
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	p.rp.ServeHTTP(w, r)
}

// operation names the API operation of an AWS request: the part after the
// dot of X-Amz-Target (JSON protocols: DynamoDB, KMS), or the Action of a
// query-protocol form (STS).
func operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if _, op, ok := strings.Cut(t, "."); ok {
			return op
		}
		return t
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
				return v.Get("Action")
			}
		}
	}
	return r.Method + " " + r.URL.Path
}

// take returns the counts since the last call and resets them.
func (p *proxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := maps.Clone(p.counts)
	clear(p.counts)
	return c
}

func (p *proxy) close() { p.srv.Close() }
