package cloudchain_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/testkeys"
)

// inFlight wraps the memory backend. Once armed, the Save of user "slow"
// is on the wire when the Save of user "broken" fails; it lands, and its
// answer comes back a moment later, or as ctx.Err() if its context is
// cancelled first, as an HTTP request in flight does.
type inFlight struct {
	*memory.Backend
	mu          sync.Mutex
	armed       bool
	started     chan struct{}
	brokenEnded chan struct{}
}

func (h *inFlight) Save(ctx context.Context, prev, next *cloudchain.Item) (int, error) {
	h.mu.Lock()
	armed := h.armed
	h.mu.Unlock()
	if armed {
		switch next.User {
		case "slow":
			close(h.started)
			<-h.brokenEnded
			n, err := h.Backend.Save(context.Background(), prev, next)
			if err != nil {
				return n, err
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("dynamodb:PutItem: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond): // the answer's way back
				return n, nil
			}
		case "broken":
			<-h.started
			defer close(h.brokenEnded)
			return 0, errors.New("dynamodb:PutItem: https response error StatusCode: 400, ValidationException")
		}
	}
	return h.Backend.Save(ctx, prev, next)
}

// TestPutManyKeepsWritesInFlight: when one of PutMany's writes fails, the
// writes already sent are not cancelled; each is reported by whether it
// landed ("the results are exactly the writes that landed"), and recorded in
// the rollback manifest. Found by review: the first failure cancelled them,
// so a write that landed was left out.
func TestPutManyKeepsWritesInFlight(t *testing.T) {
	ctx := context.Background()
	b := &inFlight{Backend: memory.New(), started: make(chan struct{}), brokenEnded: make(chan struct{})}
	st := cloudchain.New(b, testkeys.New("k"), cloudchain.WithParallelism(2))
	for _, u := range []string{"slow", "broken"} {
		if _, err := st.Put(ctx, "db", u, []byte("v1")); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	b.armed = true
	b.mu.Unlock()
	res, err := st.PutMany(ctx, "db", []cloudchain.SecretValue{
		{User: "slow", Value: []byte("v2")},
		{User: "broken", Value: []byte("v2")},
	})
	b.mu.Lock()
	b.armed = false
	b.mu.Unlock()
	if err == nil {
		t.Fatal("PutMany succeeded; the write of 'broken' should have failed")
	}
	if len(res) != 1 || res[0].User != "slow" || res[0].Version != 2 {
		t.Fatalf("PutMany results %+v (error %v); want exactly slow at version 2, which landed", res, err)
	}
	if sec, err := st.Get(ctx, "db", "slow"); err != nil || string(sec.Value) != "v2" {
		t.Fatalf("Get slow = %v, %v", sec, err)
	}
}
