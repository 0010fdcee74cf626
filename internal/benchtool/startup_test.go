package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// connRecorder is a loopback listener that records every connection it
// accepts and closes it at once.
type connRecorder struct {
	l     net.Listener
	mu    sync.Mutex
	conns int
	done  chan struct{}
}

func newConnRecorder(t *testing.T) *connRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &connRecorder{l: l, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-r.done })
	return r
}

func (r *connRecorder) url() string { return "http://" + r.l.Addr().String() }

func (r *connRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// fifoWatch makes a named pipe and reports whether anything opened it for
// reading: opening a FIFO for writing blocks until a reader opens it.
type fifoWatch struct {
	path   string
	opened chan struct{}
}

func newFIFOWatch(t *testing.T, path string) *fifoWatch {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
	w := &fifoWatch{path: path, opened: make(chan struct{})}
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			f.Close() // the reader sees an empty file
		}
		close(w.opened)
	}()
	t.Cleanup(func() {
		// Unblock the writer if nobody read the FIFO.
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			<-w.opened
			f.Close()
		}
	})
	return w
}

func (w *fifoWatch) wasOpened() bool {
	select {
	case <-w.opened:
		return true
	default:
		return false
	}
}

// waitOpened waits at most d for the FIFO to be opened.
func (w *fifoWatch) waitOpened(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.opened:
		return true
	case <-t.C:
		return false
	}
}

// buildCchain builds cmd/cchain into dir.
func buildCchain(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "cchain")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cloudchain/cloudchain/cmd/cchain")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building cchain: %v\n%s", err, out)
	}
	return bin
}

// TestEmbeddedTouchesNoAWS runs `cchain --help` and every everyday command
// on the embedded store with the AWS SDK's every source of configuration
// and every endpoint (DynamoDB, KMS, STS, instance metadata) pointed at
// watchers, and checks that none of them is read or connected to: the
// embedded store must not pay for AWS start-up (issue 8, item 4).
func TestEmbeddedTouchesNoAWS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses a FIFO and Linux paths")
	}
	dir := t.TempDir()
	bin := buildCchain(t, dir)
	rec := newConnRecorder(t)
	awsConfig := newFIFOWatch(t, filepath.Join(dir, "aws-config"))
	awsCreds := newFIFOWatch(t, filepath.Join(dir, "aws-credentials"))
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"CLOUDCHAIN_DATA_DIR=" + filepath.Join(dir, "data"),
		"AWS_CONFIG_FILE=" + awsConfig.path,
		"AWS_SHARED_CREDENTIALS_FILE=" + awsCreds.path,
		"AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL=" + rec.url(),
		"AWS_ENDPOINT_URL_DYNAMODB=" + rec.url(),
		"AWS_ENDPOINT_URL_KMS=" + rec.url(),
		"AWS_ENDPOINT_URL_STS=" + rec.url(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + rec.url(),
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + rec.url() + "/creds",
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"help", []string{"--help"}, ""},
		{"version", []string{"--version"}, ""},
		{"put", []string{"put", "db", "alice", "-"}, "hunter2"},
		{"put again", []string{"put", "db", "alice", "-"}, "hunter3"},
		{"get", []string{"get", "db", "alice"}, ""},
		{"legacy read", []string{"-u", "alice", "-e", "db", "-r"}, ""},
		{"list", []string{"list", "db"}, ""},
		{"history", []string{"history", "db", "alice"}, ""},
		{"status", []string{"status"}, ""},
		{"put bob", []string{"put", "db", "bob", "-"}, "s3cret"},
		{"delete", []string{"delete", "db", "bob"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			cmd.Env = env
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("cchain %s: %v\n%s", strings.Join(tt.args, " "), err, stderr.String())
			}
			if n := rec.count(); n > 0 {
				t.Errorf("cchain %s: %d connections to AWS endpoints, want none", strings.Join(tt.args, " "), n)
			}
			if awsConfig.wasOpened() || awsCreds.wasOpened() {
				t.Errorf("cchain %s: read the AWS shared config or credentials file (config %v, credentials %v)",
					strings.Join(tt.args, " "), awsConfig.wasOpened(), awsCreds.wasOpened())
			}
		})
	}
}

// TestWatchersSeeAWS checks that the watchers of TestEmbeddedTouchesNoAWS
// can fail: the same binary on the DynamoDB backend opens the AWS shared
// config file and connects to the endpoints.
func TestWatchersSeeAWS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses a FIFO and Linux paths")
	}
	dir := t.TempDir()
	bin := buildCchain(t, dir)
	rec := newConnRecorder(t)
	awsConfig := newFIFOWatch(t, filepath.Join(dir, "aws-config"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "get", "db", "alice")
	cmd.Env = []string{
		"HOME=" + dir,
		"PATH=" + os.Getenv("PATH"),
		"CLOUDCHAIN_BACKEND=dynamodb",
		"AWS_CONFIG_FILE=" + awsConfig.path,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=secret",
		"AWS_REGION=us-east-1",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_ENDPOINT_URL=" + rec.url(),
	}
	_ = cmd.Run() // fails: the recorder closes every connection
	if rec.count() == 0 {
		t.Error("no connection recorded from cchain on DynamoDB: the recorder cannot see connections")
	}
	if !awsConfig.waitOpened(5 * time.Second) {
		t.Error("the AWS config file was not opened by cchain on DynamoDB: the FIFO watch cannot see it")
	}
}
