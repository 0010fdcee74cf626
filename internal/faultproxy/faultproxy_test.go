package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func post(t *testing.T, ctx context.Context, url, op string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype") + " " + string(b), nil
}

func TestFaultsInOrderAndCounted(t *testing.T) {
	var served atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p := Start(t, backend.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	p.Inject("GetItem", 1, Fault{Kind: Throttling})
	p.Inject("GetItem", 1, Fault{Kind: Status503})
	p.Inject("*", 1, Fault{Kind: ProvisionedThroughput})
	p.Inject("GetItem", 1, Fault{Kind: Reset})
	p.Inject("PutItem", 1, Fault{Kind: ResetAfter})
	p.Inject("GetItem", 1, Fault{Kind: Slow, Delay: 20 * time.Millisecond})

	for i, want := range []struct {
		status int
		body   string
		err    bool
	}{
		{400, "ThrottlingException", false},
		{503, "ServiceUnavailable", false},
		{0, "", true}, // the reset: GetItem's own queue comes before "*"
		{200, "ok", false},
		{400, "ProvisionedThroughputExceededException", false},
		{200, "ok", false},
	} {
		status, body, err := post(t, ctx, p.URL(), "GetItem")
		if (err != nil) != want.err || status != want.status || !strings.Contains(body, want.body) {
			t.Fatalf("request %d: %d %q %v; want %d %q (error %v)", i, status, body, err, want.status, want.body, want.err)
		}
	}
	before := served.Load()
	if _, _, err := post(t, ctx, p.URL(), "PutItem"); err == nil {
		t.Fatal("ResetAfter: the client got an answer")
	}
	if served.Load() != before+1 {
		t.Fatal("ResetAfter: the request did not reach the server")
	}
	if p.Count("GetItem") != 6 || p.Faulted("GetItem") != 5 || p.Count("PutItem") != 1 || p.Pending() != 0 {
		t.Fatalf("counts %v, faulted GetItem %d, pending %d", p.Counts(), p.Faulted("GetItem"), p.Pending())
	}

	p.Always("Query", Fault{Kind: Status500})
	for range 3 {
		if status, _, _ := post(t, ctx, p.URL(), "Query"); status != 500 {
			t.Fatalf("Always: status %d", status)
		}
	}
	p.Clear()
	if status, _, _ := post(t, ctx, p.URL(), "Query"); status != 200 {
		t.Fatalf("after Clear: status %d", status)
	}
}

func TestHangEndsWithTheClient(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	p := Start(t, backend.URL)
	p.Always("*", Fault{Kind: Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := post(t, ctx, p.URL(), "GetItem")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("hang: %v after %v", err, time.Since(start))
	}

	// Close releases a held request.
	done := make(chan error, 1)
	go func() {
		_, _, err := post(t, context.Background(), p.URL(), "GetItem")
		done <- err
	}()
	<-p.Arrived()
	<-p.Arrived()
	p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a hung request got an answer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release a hung request")
	}
}
