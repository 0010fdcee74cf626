package dynalitetest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// A fault replaces one request's exchange with the server.
type fault struct {
	errType string // AWS error type, such as ThrottlingException
	status  int
	// lose forwards the request, so that the server applies it, and then
	// loses the response: the client sees a 500 for a write that landed.
	lose bool
}

// Fail makes the next n requests of operation op fail, before reaching the
// server, with the DynamoDB error errType (ThrottlingException,
// ProvisionedThroughputExceededException, AccessDeniedException, ...) and
// HTTP status, exactly as DynamoDB sends errors. The SDK sees them on the
// wire, so its retryer and error deserializer are exercised.
func (c *Counter) Fail(op string, n int, errType string, status int) {
	c.addFaults(op, n, fault{errType: errType, status: status})
}

// LoseResponse makes the next n requests of operation op reach the server
// and take effect, and then answers the client with a 500 as if the response
// had been lost on the way back.
func (c *Counter) LoseResponse(op string, n int) {
	c.addFaults(op, n, fault{errType: "InternalServerError", status: http.StatusInternalServerError, lose: true})
}

// ClearFaults removes every pending fault.
func (c *Counter) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

func (c *Counter) addFaults(op string, n int, f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults == nil {
		c.faults = map[string][]fault{}
	}
	for range n {
		c.faults[op] = append(c.faults[op], f)
	}
}

// takeFault pops the next fault for op; c.mu must be held.
func (c *Counter) takeFault(op string) *fault {
	q := c.faults[op]
	if len(q) == 0 {
		return nil
	}
	c.faults[op] = q[1:]
	return &q[0]
}

func (f *fault) roundTrip(base http.RoundTripper, req *http.Request) (*http.Response, error) {
	if f == nil {
		return base.RoundTrip(req)
	}
	if f.lose {
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected fault: %s"}`, f.errType, f.errType)
	return &http.Response{
		StatusCode:    f.status,
		Status:        fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Errortype": {f.errType}},
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}
