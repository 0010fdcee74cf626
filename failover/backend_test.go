package failover_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/failover"
)

// downErr is what a region that refuses connections returns.
var downErr = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// region is a memory backend that counts calls and can be taken down.
type region struct {
	*memory.Backend
	mu    sync.Mutex
	calls map[string]int
	fail  error // returned by every call while set
	// failAfter makes a walk fail after this many items (0: never).
	failAfter int
}

func newRegion() *region { return &region{Backend: memory.New(), calls: map[string]int{}} }

func (r *region) call(op string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[op]++
	return r.fail
}

func (r *region) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[op]
}

func (r *region) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *region) Load(ctx context.Context, s, u string) (*cloudchain.Item, error) {
	if err := r.call("Load"); err != nil {
		return nil, err
	}
	return r.Backend.Load(ctx, s, u)
}

func (r *region) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	if err := r.call("Save"); err != nil {
		return 0, err
	}
	return r.Backend.Save(ctx, prev, next)
}

func (r *region) Items(ctx context.Context, s string, h bool, fn func(*cloudchain.Item) error) error {
	if err := r.call("Items"); err != nil {
		return err
	}
	n := 0
	return r.Backend.Items(ctx, s, h, func(it *cloudchain.Item) error {
		if r.failAfter > 0 && n == r.failAfter {
			return downErr
		}
		n++
		return fn(it)
	})
}

func item(service, user string, v int64) *cloudchain.Item {
	return &cloudchain.Item{Service: service, User: user, Records: []*cloudchain.Record{{Version: v, Format: cloudchain.FormatV1, Ciphertext: []byte("c"), Nonce: make([]byte, 12), WrappedKey: []byte("k"), KeyID: "k"}}}
}

// pair returns two regions holding the same items (a global table in
// sync) and a failover Backend over them.
func pair(t *testing.T, opts ...failover.Option) (*region, *region, *failover.Backend) {
	t.Helper()
	a, b := newRegion(), newRegion()
	for _, r := range []*region{a, b} {
		for _, u := range []string{"u1", "u2", "u3"} {
			if _, err := r.Backend.Save(context.Background(), nil, item("svc", u, 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return a, b, failover.New([]failover.Region{{Name: "us-east-1", Backend: a}, {Name: "us-west-2", Backend: b}}, opts...)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) cloudchain.Backend {
		return failover.New([]failover.Region{{Name: "a", Backend: memory.New()}, {Name: "b", Backend: memory.New()}})
	})
}

func TestReadsFailOverAndSkipTheDeadRegion(t *testing.T) {
	now := time.Unix(1000, 0)
	var events []failover.Event
	a, b, fb := pair(t, failover.WithClock(func() time.Time { return now }), failover.WithNotify(func(e failover.Event) { events = append(events, e) }))
	ctx := context.Background()
	if _, err := fb.Load(ctx, "svc", "u1"); err != nil {
		t.Fatal(err)
	}
	if a.count("Load") != 1 || b.count("Load") != 0 {
		t.Fatalf("healthy: primary %d, replica %d loads", a.count("Load"), b.count("Load"))
	}
	a.setFail(downErr)
	for i := range 5 {
		if _, err := fb.Load(ctx, "svc", "u2"); err != nil {
			t.Fatalf("read %d with the primary down: %v", i, err)
		}
	}
	// The primary was asked once, then skipped.
	if a.count("Load") != 2 || b.count("Load") != 5 {
		t.Fatalf("primary down: primary %d, replica %d loads; want 2, 5", a.count("Load"), b.count("Load"))
	}
	if len(events) != 1 || events[0].Region != "us-east-1" || events[0].Next != "us-west-2" || !strings.Contains(events[0].Message(), "reading from us-west-2") {
		t.Fatalf("events = %+v", events)
	}
	// After the skip period the primary is tried first again, and is back.
	a.setFail(nil)
	now = now.Add(failover.DefaultSkip)
	if _, err := fb.Load(ctx, "svc", "u3"); err != nil {
		t.Fatal(err)
	}
	if a.count("Load") != 3 || b.count("Load") != 5 {
		t.Fatalf("after the skip: primary %d, replica %d loads; want 3, 5", a.count("Load"), b.count("Load"))
	}
}

func TestAnswersDoNotFailOver(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: dynamodb:GetItem", cloudchain.ErrAccessDenied),
		fmt.Errorf("%w: table", cloudchain.ErrNotSetUp),
		fmt.Errorf("%w: x", cloudchain.ErrMalformed),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			a, b, fb := pair(t)
			a.setFail(err)
			if _, got := fb.Load(context.Background(), "svc", "u1"); !errors.Is(got, err) {
				t.Fatalf("err = %v, want %v", got, err)
			}
			if b.count("Load") != 0 {
				t.Fatal("the replica was asked")
			}
		})
	}
	t.Run("missing secret", func(t *testing.T) {
		a, b, fb := pair(t)
		if _, err := fb.Load(context.Background(), "svc", "nobody"); !errors.Is(err, cloudchain.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if a.count("Load") != 1 || b.count("Load") != 0 {
			t.Fatal("a missing secret failed over")
		}
	})
}

func TestEveryRegionDown(t *testing.T) {
	a, b, fb := pair(t)
	a.setFail(downErr)
	b.setFail(fmt.Errorf("%w: after 3 attempts", cloudchain.ErrThrottled))
	_, err := fb.Load(context.Background(), "svc", "u1")
	var fe *failover.Error
	if !errors.As(err, &fe) || len(fe.Tries) != 2 || !errors.Is(err, cloudchain.ErrThrottled) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "us-east-1: ") || !strings.Contains(err.Error(), "us-west-2: ") {
		t.Fatalf("message does not name both regions: %v", err)
	}
}

func TestWritesGoToThePrimaryOnly(t *testing.T) {
	a, b, fb := pair(t)
	ctx := context.Background()
	prev, err := fb.Load(ctx, "svc", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Save(ctx, prev, item("svc", "u1", 2)); err != nil {
		t.Fatal(err)
	}
	if a.count("Save") != 1 || b.count("Save") != 0 {
		t.Fatalf("saves: primary %d, replica %d", a.count("Save"), b.count("Save"))
	}
	a.setFail(downErr)
	_, err = fb.Save(ctx, prev, item("svc", "u1", 3))
	var we *failover.WriteError
	if !errors.As(err, &we) || !errors.Is(err, failover.ErrPrimaryDown) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("write with the primary down: %v", err)
	}
	if b.count("Save") != 0 {
		t.Fatal("a write went to the replica")
	}
	for _, want := range []string{"primary region us-east-1", "us-west-2", "last writer wins"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	// A write's own answer is not dressed up as an outage.
	a.setFail(nil)
	if _, err := fb.Save(ctx, nil, item("svc", "u1", 9)); !errors.Is(err, cloudchain.ErrVersionConflict) || errors.Is(err, failover.ErrPrimaryDown) {
		t.Fatalf("conflict: %v", err)
	}
}

func TestWalkResumesInTheReplica(t *testing.T) {
	a, b, fb := pair(t)
	a.failAfter = 2
	var users []string
	err := fb.Items(context.Background(), "svc", false, func(it *cloudchain.Item) error {
		users = append(users, it.User)
		return nil
	})
	if err != nil || strings.Join(users, ",") != "u1,u2,u3" {
		t.Fatalf("users = %v, err = %v", users, err)
	}
	if a.count("Items") != 1 || b.count("Items") != 1 {
		t.Fatal("walks:", a.count("Items"), b.count("Items"))
	}
}

func TestCallbackErrorsDoNotFailOver(t *testing.T) {
	_, b, fb := pair(t)
	// The callback's own error looks like an outage (a KMS call inside it
	// that could not connect), but it is the caller's, returned as it is.
	err := fb.Items(context.Background(), "svc", false, func(*cloudchain.Item) error { return downErr })
	if err != downErr {
		t.Fatalf("err = %v", err)
	}
	if b.count("Items") != 0 {
		t.Fatal("the replica was walked")
	}
}

func TestCallerDeadlineEndsTheRead(t *testing.T) {
	a, b, fb := pair(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.setFail(fmt.Errorf("get: %w", context.Canceled))
	if _, err := fb.Load(ctx, "svc", "u1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if b.count("Load") != 0 {
		t.Fatal("the replica was asked after the caller gave up")
	}
}
