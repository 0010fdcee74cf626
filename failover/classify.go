package failover

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cloudchain/cloudchain"
)

// answers are the sentinels of errors that are an answer about the request,
// the data or the caller. Another region would give the same answer (or,
// for a write, must not be asked), so they never fail over.
var answers = []error{
	cloudchain.ErrNotFound, cloudchain.ErrDeleted, cloudchain.ErrVersionConflict,
	cloudchain.ErrAuthentication, cloudchain.ErrWrongKey, cloudchain.ErrInvalidID,
	cloudchain.ErrTooLarge, cloudchain.ErrAccessDenied, cloudchain.ErrNotSetUp,
	cloudchain.ErrMalformed, cloudchain.ErrCorrupt, cloudchain.ErrUnsupported,
	cloudchain.ErrLocked, cloudchain.ErrNotDeleted,
}

// serverCodes are AWS error codes of the service failing rather than the
// request, for errors that carry no HTTP status.
var serverCodes = map[string]bool{
	"InternalServerError": true, "InternalFailure": true, "ServiceUnavailable": true,
	"ServiceUnavailableException": true, "KMSInternalException": true,
	"DependencyTimeoutException": true, "RequestTimeout": true, "RequestTimeoutException": true,
}

// throttleCodes are the throttling error codes of DynamoDB and KMS.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "ThrottledException": true,
	"ProvisionedThroughputExceededException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "LimitExceededException": true,
}

// services are the SDK service ids whose own requests may fail over. An
// error from any other service in the chain (STS, SSO, the EC2 metadata
// service) comes from the credential chain, not from the region.
var services = map[string]bool{"DynamoDB": true, "KMS": true}

// RegionDown reports whether err, returned by a call made with ctx (after
// the SDK's own retries), says that the region did not answer: a
// connection refused, reset or timed out, a 5xx answer, or throttling.
// Only then may a read be tried in another region.
//
// It is false when ctx itself has ended (the caller's deadline, such as
// cchain's --timeout, or a cancellation ends the command rather than move
// it elsewhere), while a deadline of an inner context, such as a
// per-attempt timeout, with ctx still live, is a region that did not
// answer. It is false for every answer about the request, the data or the
// caller, whatever its transport: a missing secret or table, a conditional
// check that failed, access denied, a validation error, an authentication
// failure (of the record, or of the caller's signature or credentials), and
// KMS's InvalidCiphertext, NotFound, Disabled and invalid-state errors,
// since another region would give the same answer. It is false for any
// error it does not recognise.
func RegionDown(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	for _, s := range answers {
		if errors.Is(err, s) {
			return false
		}
	}
	if errors.Is(err, context.Canceled) || fromOtherService(err) {
		return false
	}
	if errors.Is(err, cloudchain.ErrThrottled) {
		return true
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() != 0 {
		if resp.HTTPStatusCode() >= 500 {
			return true
		}
		var api smithy.APIError
		return errors.As(err, &api) && throttleCodes[api.ErrorCode()]
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return serverCodes[api.ErrorCode()] || throttleCodes[api.ErrorCode()]
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// An inner deadline: ctx is still live.
		return true
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	return errors.As(err, &send) || errors.As(err, &netErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

// fromOtherService reports whether err's chain holds an operation error of
// a service other than DynamoDB and KMS: a failure of the credential chain.
func fromOtherService(err error) bool {
	found := false
	walk(err, func(e error) {
		var op *smithy.OperationError
		if oe, ok := e.(*smithy.OperationError); ok {
			op = oe
		}
		if op != nil && !services[op.ServiceID] {
			found = true
		}
	})
	return found
}

// walk calls fn for every error in err's tree.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	}
}
