package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildAll builds cchain and the helper programs into dir.
func buildAll(ctx context.Context, dir string) error {
	for name, pkg := range map[string]string{
		"cchain":   "./cmd/cchain",
		"kmstestd": "./internal/kmstest/cmd/kmstestd",
		"hello":    "./internal/benchtool/hello",
		"floor":    "./internal/benchtool/floor",
		"bulkread": "./internal/benchtool/bulkread",
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", pkg, err)
		}
	}
	return nil
}

// process is a server the harness started; stop kills it.
type process struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
}

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// startDynalite runs node_modules/.bin/dynalite in memory on a free
// loopback port (its --port 0 does not pick one), retrying if the port was
// taken in between, and returns its endpoint.
func startDynalite(ctx context.Context) (*process, string, error) {
	bin, err := filepath.Abs(filepath.Join("node_modules", ".bin", "dynalite"))
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, "", fmt.Errorf("dynalite is not installed (run `npm ci` at the repo root): %w", err)
	}
	var errs []error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
		setDeathSignal(cmd)
		p := &process{cmd: cmd, exited: make(chan struct{})}
		if err := cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("starting dynalite: %w", err)
		}
		go func() { cmd.Wait(); close(p.exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitListening(ctx, addr, p.exited, 20*time.Second); err != nil {
			p.stop()
			errs = append(errs, err)
			continue
		}
		return p, "http://" + addr, nil
	}
	return nil, "", fmt.Errorf("starting dynalite: %w", errors.Join(errs...))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts a connection, the process exits,
// or the timeout passes.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited before listening on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
		}
	}
}

// startKMS runs the kmstestd binary with one key, alias/cloudchain, and
// returns its URL and the key's ARN. It exits when its stdin closes.
func startKMS(ctx context.Context, bin string) (*process, string, string, error) {
	cmd := exec.Command(bin, "-alias", "cloudchain", "-stdin-eof")
	setDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", "", fmt.Errorf("starting kmstestd: %w", err)
	}
	p := &process{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	type answer struct {
		url, arn string
		err      error
	}
	ch := make(chan answer, 1)
	go func() {
		r := bufio.NewReader(stdout)
		url, err1 := r.ReadString('\n')
		line, err2 := r.ReadString('\n')
		_, arn, _ := strings.Cut(strings.TrimSpace(line), " ")
		ch <- answer{strings.TrimSpace(url), arn, errors.Join(err1, err2)}
		io.Copy(io.Discard, r)
	}()
	select {
	case a := <-ch:
		if a.err != nil || a.arn == "" {
			p.stop()
			return nil, "", "", fmt.Errorf("kmstestd did not print its URL and key: %v", a.err)
		}
		return p, a.url, a.arn, nil
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, "", "", errors.New("kmstestd did not start in 10s")
	case <-ctx.Done():
		p.stop()
		return nil, "", "", ctx.Err()
	}
}
