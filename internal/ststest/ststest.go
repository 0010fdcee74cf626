// Package ststest is a minimal AWS STS server for tests: it answers
// GetCallerIdentity in STS's query protocol (form-encoded request, XML
// response), so that the real SDK client can look up the caller's ARN, and it
// counts the calls. It also has the two ways an unreachable endpoint fails:
// one that refuses connections and one that never answers.
package ststest

import (
	"encoding/xml"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// Server is a fake STS endpoint on a loopback port.
type Server struct {
	ts    *httptest.Server
	arn   string
	calls atomic.Int64
}

// New starts a server that reports arn as the caller's identity.
func New(arn string) *Server {
	s := &Server{arn: arn}
	s.ts = httptest.NewServer(s)
	return s
}

// URL is the endpoint URL.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Calls returns how many GetCallerIdentity requests were answered.
func (s *Server) Calls() int64 { return s.calls.Load() }

type result struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	XMLNS   string   `xml:"xmlns,attr"`
	Arn     string   `xml:"GetCallerIdentityResult>Arn"`
	UserID  string   `xml:"GetCallerIdentityResult>UserId"`
	Account string   `xml:"GetCallerIdentityResult>Account"`
	Request string   `xml:"ResponseMetadata>RequestId"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "GetCallerIdentity" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>only GetCallerIdentity is served</Message></Error><RequestId>0</RequestId></ErrorResponse>`))
		return
	}
	s.calls.Add(1)
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(result{
		XMLNS: "https://sts.amazonaws.com/doc/2011-06-15/", Arn: s.arn,
		UserID: "AIDATESTUSER", Account: "123456789012", Request: "00000000-0000-0000-0000-000000000000",
	})
}

// Silent is a loopback endpoint that accepts connections and never answers,
// like an STS or metadata endpoint behind a firewall that drops replies.
type Silent struct {
	l     net.Listener
	done  chan struct{}
	mu    sync.Mutex
	conns []net.Conn
}

// NewSilent starts a Silent endpoint on 127.0.0.1.
func NewSilent() (*Silent, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Silent{l: l, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// URL is the endpoint URL.
func (s *Silent) URL() string { return "http://" + s.l.Addr().String() }

// Accepted returns how many connections were accepted.
func (s *Silent) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening and closes every accepted connection.
func (s *Silent) Close() {
	s.l.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// RefusingURL returns the URL of a loopback port where nothing listens, so
// that connections to it are refused. Another process could take the port
// in between; tests that use it accept any failure to connect.
func RefusingURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	url := "http://" + l.Addr().String()
	return url, l.Close()
}
