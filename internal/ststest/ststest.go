// Package ststest is a minimal AWS STS server for tests: it answers
// GetCallerIdentity in STS's query protocol (form-encoded request, XML
// response), so that the real SDK client can look up the caller's ARN, and it
// counts the calls.
package ststest

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
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
