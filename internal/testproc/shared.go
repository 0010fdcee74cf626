package testproc

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is the one server of a test binary, started by the first test that
// needs it and stopped by TestMain (through Main). Declare one per helper
// package as a package variable: one server per binary is the point.
type Shared struct {
	// Prefix starts every message ("dynalitetest").
	Prefix string
	// What names what the skipped tests need ("DynamoDB").
	What string
	// EndpointEnv names a variable that points the tests at an already
	// running server instead (then nothing is started).
	EndpointEnv string
	// Install says how to install the server, for the skip message.
	Install string
	// Binary finds the server's executable; an error means it is not
	// installed, which skips the tests (fails them when CI is set).
	Binary func() (string, error)
	// Spec runs the server found by Binary.
	Spec func(bin string) Spec

	mu      sync.Mutex
	started bool
	proc    *Process
	err     error
	missing bool
	skipped int
}

// Main runs the tests, then says how many were skipped for want of the
// server, stops it and exits with the tests' code.
func (s *Shared) Main(m *testing.M) {
	if _, err := s.Binary(); err != nil && os.Getenv(s.EndpointEnv) == "" && os.Getenv("CI") == "" {
		fmt.Fprintf(os.Stderr, "*** %s: %v: the tests of this package that need %s will be SKIPPED\n*** hint: %s (or set %s); with CI set they fail instead\n", s.Prefix, err, s.What, s.Install, s.EndpointEnv)
	}
	code := m.Run()
	s.mu.Lock()
	skipped := s.skipped
	s.mu.Unlock()
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "*** %s: SKIPPED %d tests that need %s: it is not installed (%s)\n", s.Prefix, skipped, s.What, s.Install)
	}
	s.Stop()
	os.Exit(code)
}

// Stop kills the server, if one was started, and waits for it to exit.
// Later calls to Endpoint fail.
func (s *Shared) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Stop()
		s.proc = nil
	}
	if s.err == nil {
		s.err = fmt.Errorf("%s: the server was stopped", s.Prefix)
	}
	s.started = true
}

// Endpoint returns the server's URL, starting it on first use. It skips tb
// when the server is not installed (fails it when CI is set), and fails tb
// when it cannot be started.
func (s *Shared) Endpoint(tb testing.TB) string {
	tb.Helper()
	if ep := os.Getenv(s.EndpointEnv); ep != "" {
		return ep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.start()
	}
	if s.err != nil {
		if s.missing && os.Getenv("CI") == "" {
			s.skipped++
			if s.skipped == 1 {
				tb.Skipf("%s: %v: SKIPPING every test that needs %s\nhint: %s (or set %s); with CI set these tests fail instead", s.Prefix, s.err, s.What, s.Install, s.EndpointEnv)
			}
			tb.Skipf("%s: not installed (see the first skip)", s.Prefix)
		}
		tb.Fatalf("%s: %v", s.Prefix, s.err)
	}
	return s.proc.Endpoint
}

// Serve starts the server for a program that is not a test and returns its
// endpoint; Stop ends it.
func (s *Shared) Serve() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && s.err == nil {
		return s.proc.Endpoint, nil
	}
	s.started = true
	s.start()
	if s.err != nil {
		return "", s.err
	}
	return s.proc.Endpoint, nil
}

func (s *Shared) start() {
	bin, err := s.Binary()
	if err != nil {
		s.err, s.missing = err, true
		return
	}
	s.proc, s.err = Start(s.Spec(bin))
}

// Logs returns what the server has printed so far, or "" if none runs.
func (s *Shared) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.Logs()
}

// Private starts a server of tb's own, beside the shared one, killed when tb
// ends (tests that need two servers: two regions, one taken down). It skips
// or fails as Endpoint does when the server is not installed, and ignores
// EndpointEnv.
func (s *Shared) Private(tb testing.TB) string {
	tb.Helper()
	bin, err := s.Binary()
	if err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("%s: %v (%s)", s.Prefix, err, s.Install)
		}
		tb.Fatalf("%s: %v", s.Prefix, err)
	}
	p, err := Start(s.Spec(bin))
	if err != nil {
		tb.Fatalf("%s: a private server: %v", s.Prefix, err)
	}
	tb.Cleanup(p.Stop)
	return p.Endpoint
}
