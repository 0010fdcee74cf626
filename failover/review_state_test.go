//go:build unix

package failover_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/failover"
	"github.com/cloudchain/cloudchain/internal/lockedfile"
)

// TestStateFileSkipIsSilent: a second process that skips the primary
// because the state file says so reads from the (possibly lagging) replica
// without any notice, whereas the first process was told "reading from
// us-west-2 instead". The reader of process 2 gets a replica's answer,
// possibly an older secret, without being told.
func TestStateFileSkipIsSilent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regions.json")
	c := newClock()
	var mu sync.Mutex
	var events []failover.Event
	notify := failover.WithNotify(func(e failover.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	proc := func() (*region, *region, *failover.Backend) {
		p, r := newRegion(), newRegion()
		p.setFail(downErr)
		return p, r, failover.New([]failover.Region{{Name: "us-east-1", Backend: p}, {Name: "us-west-2", Backend: r}},
			failover.WithStateFile(path), failover.WithClock(c.now), notify)
	}
	_, _, b1 := proc()
	if _, err := b1.Load(context.Background(), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("first process: %d notices, want 1", len(events))
	}
	c.add(time.Second)
	p2, r2, b2 := proc()
	if _, err := b2.Load(context.Background(), "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatal(err)
	}
	if p2.count("Load") != 0 || r2.count("Load") != 1 {
		t.Fatalf("second process: primary %d, replica %d", p2.count("Load"), r2.count("Load"))
	}
	if len(events) != 2 {
		t.Errorf("second process read from replica us-west-2 (state file skipped us-east-1) with no notice at all: %d notices in total, want 2", len(events))
	}
}

// ctxRegion is a region whose Load fails once its context has ended, as an
// SDK call does.
type ctxRegion struct{ *region }

func (r ctxRegion) Load(ctx context.Context, s, u string) (*cloudchain.Item, error) {
	if err := ctx.Err(); err != nil {
		r.call("Load")
		return nil, err
	}
	return r.region.Load(ctx, s, u)
}

// TestStateLockIgnoresCallerDeadline: another process holds the
// state file's lock (stuck, stopped, or on a slow file system). The primary
// refuses connections; failed() then waits up to stateLockWait (1 s) for
// the lock with context.Background(), ignoring the caller's deadline, so a
// caller with a 200 ms budget never gets to ask the healthy replica. A read
// fails because of the file, which WithStateFile promises never happens.
func TestStateLockIgnoresCallerDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regions.json")
	unlock, err := lockedfile.Lock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p, r := newRegion(), ctxRegion{newRegion()}
	if _, err := r.Backend.Save(context.Background(), nil, item("db", "alice", 1)); err != nil {
		t.Fatal(err)
	}
	p.setFail(downErr)
	b := failover.New([]failover.Region{{Name: "us-east-1", Backend: p}, {Name: "us-west-2", Backend: r}}, failover.WithStateFile(path))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := b.Load(ctx, "db", "alice"); err != nil {
		t.Errorf("Load with a healthy replica and the state lock held elsewhere: %v", err)
	}
}

// TestCallerDeadlineInReplicaSaysAnswered: the primary refuses
// connections, then the caller's deadline ends while the replica is being
// asked. read() treats the replica's context error as an "answer": the
// message says the replica answered, and the replica is marked healthy
// (answered), although it never answered.
func TestCallerDeadlineInReplicaSaysAnswered(t *testing.T) {
	p, r := newRegion(), newRegion()
	p.setFail(downErr)
	ctx, cancel := context.WithCancel(context.Background())
	b := failover.New([]failover.Region{{Name: "us-east-1", Backend: p}, {Name: "us-west-2", Backend: cancelRegion{r, cancel}}})
	_, err := b.Load(ctx, "db", "alice")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "answered by region us-west-2") {
		t.Errorf("a replica that never answered is reported as answering: %v", err)
	}
}

// cancelRegion cancels the caller's context during its Load and returns
// the context's error, as an SDK call interrupted by --timeout does.
type cancelRegion struct {
	*region
	cancel func()
}

func (r cancelRegion) Load(ctx context.Context, s, u string) (*cloudchain.Item, error) {
	r.call("Load")
	r.cancel()
	<-ctx.Done()
	return nil, &wrapped{ctx.Err()}
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "operation error DynamoDB: GetItem, " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// TestFIFOStateFileHangsReads: a named pipe where the state file
// should be (created by anyone who can write the directory: with
// region_state = /some/shared/dir/regions.json, another user) makes
// os.Open in lockedfile.ReadTrusted block before the "regular file, owned
// by me" checks, so every read hangs, holding the health mutex.
func TestFIFOStateFileHangsReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regions.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	p, r := newRegion(), newRegion()
	b := failover.New([]failover.Region{{Name: "us-east-1", Backend: p}, {Name: "us-west-2", Backend: r}}, failover.WithStateFile(path))
	done := make(chan error, 1)
	go func() {
		_, err := b.Load(context.Background(), "db", "alice")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("Load: %v", err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the hung open so the goroutine ends.
		if f, err := openWriter(path); err == nil {
			f()
		}
		t.Errorf("Load hung for 5 s on a FIFO at the state file's path")
		<-done
	}
}
