package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain/internal/faultproxy"
)

// TestFaultsThroughBinary: transient faults are retried by cchain's own
// clients (config.Retryer, real back-off) and the command succeeds;
// persistent ones, hung servers included, end with a clear error within
// --timeout, and nothing is written.
func TestFaultsThroughBinary(t *testing.T) {
	f := newFaultStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, errOut, code := cchainProcess(t, ctx, f.env, "v1", "put", "db", "alice", "-"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}

	// Transient: two faults on each request of a put, retried with the real
	// back-off (at most 2 s, then 4 s).
	f.ddbP.Inject("BatchGetItem", 2, faultproxy.Fault{Kind: faultproxy.Reset})
	f.kmsP.Inject("Decrypt", 2, faultproxy.Fault{Kind: faultproxy.Status503})
	f.ddbP.Inject("PutItem", 1, faultproxy.Fault{Kind: faultproxy.ProvisionedThroughput})
	f.ddbP.Inject("PutItem", 1, faultproxy.Fault{Kind: faultproxy.ResetAfter})
	start := time.Now()
	_, errOut, code := cchainProcess(t, ctx, f.env, "v2", "put", "db", "alice", "-")
	if code != 0 {
		t.Fatalf("put with transient faults: exit %d: %s", code, errOut)
	}
	t.Logf("put with 7 transient faults took %v", time.Since(start))
	if v, n := f.state(t, "db", "alice"); v != "v2" || n != 2 {
		t.Fatalf("after transient faults the store holds %q in %d versions; want v2 in 2", v, n)
	}
	if f.ddbP.Pending()+f.kmsP.Pending() != 0 {
		t.Fatal("some injected faults were never met")
	}

	// Persistent: each ends with a clear error within the bound, and the
	// store is unchanged.
	for _, tc := range []struct {
		name    string
		p       *faultproxy.Proxy
		op      string
		fault   faultproxy.Fault
		args    []string
		code    int
		message string
	}{
		{"hung DynamoDB read", f.ddbP, "BatchGetItem", faultproxy.Fault{Kind: faultproxy.Hang}, []string{"get", "db", "alice", "--timeout", "2s"}, exitUnavailable, "no answer within --timeout 2s"},
		{"hung KMS", f.kmsP, "Decrypt", faultproxy.Fault{Kind: faultproxy.Hang}, []string{"put", "db", "alice", "-", "--timeout", "2s"}, exitUnavailable, "no answer within --timeout 2s"},
		{"hung write", f.ddbP, "PutItem", faultproxy.Fault{Kind: faultproxy.Hang}, []string{"put", "db", "alice", "-", "--timeout", "2s"}, exitUnavailable, "no answer within --timeout 2s"},
		{"slower than --timeout", f.ddbP, "*", faultproxy.Fault{Kind: faultproxy.Slow, Delay: 3 * time.Second}, []string{"get", "db", "alice", "--timeout", "1s"}, exitUnavailable, "no answer within --timeout 1s"},
		{"throttled", f.ddbP, "BatchGetItem", faultproxy.Fault{Kind: faultproxy.Throttling}, []string{"get", "db", "alice"}, exitUnavailable, "throttled"},
		{"500s", f.ddbP, "PutItem", faultproxy.Fault{Kind: faultproxy.Status500}, []string{"put", "db", "alice", "-"}, exitError, "InternalServerError"},
		{"resets", f.kmsP, "Decrypt", faultproxy.Fault{Kind: faultproxy.Reset}, []string{"get", "db", "alice"}, exitError, "connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Reset()
			tc.p.Always(tc.op, tc.fault)
			defer tc.p.Clear()
			start := time.Now()
			out, errOut, code := cchainProcess(t, ctx, f.env, "v3", tc.args...)
			took := time.Since(start)
			tc.p.Clear()
			t.Logf("%s: exit %d after %v, %d requests: %s", tc.name, code, took.Round(time.Millisecond), tc.p.Total(), errOut)
			if code != tc.code || !strings.Contains(errOut, tc.message) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tc.code, tc.message)
			}
			if strings.Contains(errOut, "v2") || strings.Contains(errOut, "v3") || strings.Contains(errOut, "not found") {
				t.Fatalf("stderr %q shows a secret or says not found", errOut)
			}
			// The bound: --timeout, or the retries' back-off (2 s + 4 s).
			if took > 12*time.Second {
				t.Fatalf("took %v", took)
			}
			if n := tc.p.Total(); n > 10 {
				t.Fatalf("%d requests: %v", n, tc.p.Counts())
			}
			if v, n := f.state(t, "db", "alice"); v != "v2" || n != 2 {
				t.Fatalf("after a failed command the store holds %q in %d versions; want v2 in 2", v, n)
			}
		})
	}
}

// TestInterruptPutAnywhere: SIGINT at a random request of a put (every
// request slowed, so that the signal lands while one is in flight), 30
// times, into existing and new services: cchain exits 130 (or 0 when the put
// finished first), and the store holds the whole write or nothing of it,
// with every version authenticating.
func TestInterruptPutAnywhere(t *testing.T) {
	f := newFaultStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := f.check.Put(ctx, "db", "alice", []byte("value-start")); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2)) // deterministic interruption points
	codes := map[int]int{}
	landed := 0
	for i := range 30 {
		// Even iterations hold each request before the server sees it;
		// odd ones hold each answer after the server applied the request.
		slow := faultproxy.Fault{Kind: faultproxy.Slow, Delay: 40 * time.Millisecond, After: i%2 == 1}
		f.ddbP.Always("*", slow)
		f.kmsP.Always("*", slow)
		// A put into an existing service sends 3 requests (BatchGetItem,
		// Decrypt, PutItem); the first put into a service 5 (BatchGetItem,
		// Query, GenerateDataKey, PutItem of the key ring, PutItem).
		service, requests := "db", 3
		if i%3 == 0 {
			service, requests = fmt.Sprintf("new%02d", i), 5
		}
		beforeV, beforeN := f.state(t, service, "alice")
		value := fmt.Sprintf("value-%02d", i)
		// Drain reports of earlier requests.
		for len(f.ddbP.Arrived())+len(f.kmsP.Arrived()) > 0 {
			select {
			case <-f.ddbP.Arrived():
			case <-f.kmsP.Arrived():
			}
		}
		cmd := exec.CommandContext(ctx, os.Args[0], "put", service, "alice", "-")
		cmd.Env = append(append(os.Environ(), runAsMain+"=1", "GORACE=atexit_sleep_ms=0"), f.env...)
		cmd.Stdin = strings.NewReader(value)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt when the n-th request arrives, or before any (n = 0).
		n := rng.IntN(requests + 1)
		if i%4 == 1 {
			n = requests // the write itself, held after it landed
		}
		for seen := 0; seen < n; seen++ {
			select {
			case <-f.ddbP.Arrived():
			case <-f.kmsP.Arrived():
			case <-time.After(10 * time.Second):
				seen = n // the put finished before its n-th request
			}
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		start := time.Now()
		err := cmd.Wait()
		took := time.Since(start)
		code := 0
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.ExitCode() >= 0:
			code = ee.ExitCode()
		case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT:
			// Before cchain installs its handler, SIGINT kills it as it
			// would any program.
			code = 128 + int(syscall.SIGINT)
		default:
			t.Fatalf("iteration %d: %v", i, err)
		}
		codes[code]++
		if code != exitInterrupted && code != exitOK {
			t.Fatalf("iteration %d: SIGINT after %d requests: exit %d: %s", i, n, code, out.String())
		}
		if took > 5*time.Second {
			t.Fatalf("iteration %d: exit took %v", i, took)
		}
		if strings.Contains(out.String(), value) {
			t.Fatalf("iteration %d: output shows the secret: %q", i, out.String())
		}
		t.Logf("iteration %d: n=%d after=%v code=%d ddb=%v kms=%v", i, n, slow.After, code, f.ddbP.Counts(), f.kmsP.Counts())
		f.ddbP.Reset()
		f.kmsP.Reset()
		v, versions := f.state(t, service, "alice")
		switch {
		case v == beforeV && versions == beforeN:
			if code == exitOK {
				t.Fatalf("iteration %d: exit 0 but nothing was written", i)
			}
		case v == value && versions == beforeN+1:
			landed++
		default:
			t.Fatalf("iteration %d: SIGINT after %d requests left %q in %d versions (before: %q in %d)", i, n, v, versions, beforeV, beforeN)
		}
	}
	t.Logf("exit codes over 30 interrupted puts: %v; %d writes landed whole, %d left nothing", codes, landed, 30-landed)
	if codes[exitInterrupted] == 0 {
		t.Fatal("no put was interrupted: the test does not test anything")
	}
}
