// Package testproc runs the servers the tests and benchmarks need (dynalite,
// moto) as child processes on free loopback ports: started on a locked
// thread so that the kernel kills them when the test binary dies, their
// output kept for error messages, and a test binary's one shared server
// started on first use, skipped loudly when it is not installed (failed
// instead when CI is set) and stopped by TestMain.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// A Process is a running server.
type Process struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{}
	logs     *buffer
}

// A Spec says how to run one kind of server.
type Spec struct {
	// Name names the server in messages ("dynalite").
	Name string
	// Tries is how many free ports to try (a port can be taken between
	// finding it free and the server binding it). Default 3.
	Tries int
	// Command returns the command that serves on 127.0.0.1:port. Its
	// Stdout, Stderr and SysProcAttr are set by Start.
	Command func(port int) (*exec.Cmd, error)
	// Ready waits until the server at endpoint answers, and fails if
	// exited is closed first (a server answering on the port while ours
	// has exited is someone else's).
	Ready func(endpoint string, exited <-chan struct{}) error
}

// Start runs spec's server on a free loopback port and waits until it is
// ready, trying other ports when one fails.
func Start(spec Spec) (*Process, error) {
	tries := spec.Tries
	if tries <= 0 {
		tries = 3
	}
	var errs []error
	for range tries {
		p, err := startOnce(spec)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("starting %s failed %d times: %w", spec.Name, tries, errors.Join(errs...))
}

func startOnce(spec Spec) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd, err := spec.Command(port)
	if err != nil {
		return nil, err
	}
	p := &Process{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, exited: make(chan struct{}), logs: &buffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	setDeathSignal(cmd)
	started := make(chan error)
	go func() {
		// The kernel sends the death signal when the thread that started
		// the child exits, and the Go runtime ends a locked thread when its
		// goroutine returns: so start and wait on one locked thread, which
		// then lives exactly as long as the server.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("running %s: %w", cmd.Path, err)
	}
	if err := spec.Ready(p.Endpoint, p.exited); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s on port %d: %w; its output:\n%s", spec.Name, port, err, p.Logs())
	}
	return p, nil
}

// Stop kills the server and waits for it to exit.
func (p *Process) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Exited is closed when the server has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Logs returns what the server has printed so far (its first MiB).
func (p *Process) Logs() string { return p.logs.String() }

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP polls url until ok accepts an answer, for at most limit, and
// fails as soon as exited is closed (also just after an accepted answer:
// then the answer came from someone else's server on the port).
func WaitHTTP(url string, limit time.Duration, exited <-chan struct{}, ok func(status int, body []byte) bool) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return errors.New("it exited during start-up")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if ok(resp.StatusCode, body) {
				select {
				case <-exited:
					return errors.New("it exited during start-up")
				case <-time.After(50 * time.Millisecond):
					return nil
				}
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v (last error: %v)", limit, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// buffer keeps the first MiB of a server's output.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
