package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestHugeStdinIsRefusedAtOnce: 300 MB on stdin is refused after reading
// one byte more than the limit, without growing to hold it (issue 12 item
// 9): the process's peak RSS stays far below the input.
func TestHugeStdinIsRefusedAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, args := range [][]string{{"put", "db", "alice", "-"}, {"-u", "alice", "-e", "db", "-s", "-"}} {
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), localProcessEnv(t)...)
		cmd.Stdin = io.LimitReader(zeros{}, 300<<20)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Fatalf("%q with 300 MB of stdin: %v (stderr %q), want exit %d", args, err, stderr.String(), exitUsage)
		}
		if !strings.Contains(stderr.String(), "stdin holds more than") {
			t.Fatalf("stderr = %q", stderr.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 150<<10 {
			t.Fatalf("peak RSS %d KiB reading a refused stdin; want well under the 300 MB given", ru.Maxrss)
		}
	}
}
