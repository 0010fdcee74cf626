package failover

import (
	"context"
	"errors"
	"fmt"
)

// read calls fn for each region in h's order until one answers, and returns
// nil, or the first error that is not RegionDown (an answer: not found,
// denied, ...), or an *Error when no region answered.
func (h *health) read(ctx context.Context, fn func(i int) error) error {
	defer h.flush(ctx)
	order := h.order()
	var tries []Try
	for n, i := range order {
		err := fn(i)
		var ce *callerError
		if errors.As(err, &ce) {
			return ce.err
		}
		if err == nil {
			h.answered(i)
			return nil
		}
		if !RegionDown(ctx, err) {
			if len(tries) == 0 || ctx.Err() != nil {
				// An answer from the first region asked, or the caller's
				// deadline or cancellation: no region answered then.
				return err
			}
			h.answered(i)
			return fmt.Errorf("%w (answered by region %s, after %s did not answer)", err, h.names[i], tries[0].Region)
		}
		next := -1
		if n+1 < len(order) {
			next = order[n+1]
		}
		h.failed(i, next, err)
		tries = append(tries, Try{Region: h.names[i], Err: err})
	}
	return &Error{Service: h.service, Tries: tries}
}

// write calls fn for the primary region (index 0) only, and turns a
// region that did not answer into a *WriteError.
func (h *health) write(ctx context.Context, fn func() error) error {
	err := fn()
	if err != nil && len(h.names) > 1 && RegionDown(ctx, err) {
		return &WriteError{Service: h.service, Primary: h.names[0], Replicas: h.names[1:], Err: err}
	}
	return err
}
