package dynalitetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
)

// StartPrivate starts a dynalite process of tb's own, beside the shared
// one, and returns its endpoint URL; it is killed when tb ends. Tests that
// need two servers (two regions of a global table, one of them taken down)
// use it. It skips or fails as Start does when dynalite is missing, and
// ignores EndpointEnv: two regions need two servers.
func StartPrivate(tb testing.TB) string {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("dynalitetest: %v (run `npm ci` at the repo root)", err)
		}
		tb.Fatalf("dynalitetest: %v", err)
	}
	const tries = 5
	var errs []error
	for range tries {
		endpoint, stop, err := startPrivateOnce(bin)
		if err == nil {
			tb.Cleanup(stop)
			return endpoint
		}
		errs = append(errs, err)
	}
	tb.Fatalf("dynalitetest: starting a private dynalite failed %d times: %v", tries, errors.Join(errs...))
	return ""
}

func startPrivateOnce(bin string) (endpoint string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	setDeathSignal(cmd)
	exited := make(chan struct{})
	started := make(chan error)
	go func() {
		// As in startOnce: the death signal follows the starting thread.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(exited)
	}()
	if err := <-started; err != nil {
		return "", nil, fmt.Errorf("running %s: %w", bin, err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(endpoint, exited); err != nil {
		stop()
		return "", nil, fmt.Errorf("dynalite on port %d: %w; its output:\n%s", port, err, logs.String())
	}
	return endpoint, stop, nil
}
