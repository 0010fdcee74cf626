package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cloudchain/cloudchain"
)

// sdk wraps err as the SDK returns it: an operation error of service around
// a response error with the HTTP status, after the retries.
func sdk(service string, status int, err error) error {
	var inner error = err
	if status != 0 {
		inner = &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}
	}
	return &smithy.OperationError{ServiceID: service, OperationName: "GetItem", Err: &retry.MaxAttemptsError{Attempt: 3, Err: inner}}
}

func api(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func sendErr(err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: &smithyhttp.RequestSendError{Err: err}}
}

func TestRegionDown(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	inner, cancelInner := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancelInner()
	<-inner.Done()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", sendErr(refused), true},
		{"connection reset", sendErr(reset), true},
		{"bare ECONNRESET", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"EOF mid-body", &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}, true},
		{"response header timeout", sendErr(&netTimeout{}), true},
		{"DNS failure", sendErr(&net.DNSError{Err: "no such host", Name: "dynamodb.xx-1.amazonaws.com"}), true},
		{"500 InternalServerError", sdk("DynamoDB", 500, &types.InternalServerError{Message: new(string)}), true},
		{"503 ServiceUnavailable", sdk("DynamoDB", 503, api("ServiceUnavailable")), true},
		{"500 KMSInternalException", sdk("KMS", 500, &kmstypes.KMSInternalException{}), true},
		{"503 DependencyTimeoutException", sdk("KMS", 503, &kmstypes.DependencyTimeoutException{}), true},
		{"throttling after retries", sdk("DynamoDB", 400, api("ThrottlingException")), true},
		{"provisioned throughput", sdk("DynamoDB", 400, &types.ProvisionedThroughputExceededException{}), true},
		{"translated ErrThrottled", fmt.Errorf("%w: dynamodb:GetItem kept failing", cloudchain.ErrThrottled), true},
		{"per-attempt deadline, caller's ctx live", fmt.Errorf("get: %w", inner.Err()), true},
		{"throttle code without status", api("ThrottlingException"), true},

		{"nil", nil, false},
		{"AccessDenied", sdk("DynamoDB", 400, api("AccessDeniedException")), false},
		{"translated ErrAccessDenied", fmt.Errorf("%w: kms:Decrypt", cloudchain.ErrAccessDenied), false},
		{"ResourceNotFound", sdk("DynamoDB", 400, &types.ResourceNotFoundException{}), false},
		{"translated ErrNotSetUp", fmt.Errorf("%w: no table", cloudchain.ErrNotSetUp), false},
		{"ConditionalCheckFailed", sdk("DynamoDB", 400, &types.ConditionalCheckFailedException{}), false},
		{"ValidationException", sdk("DynamoDB", 400, api("ValidationException")), false},
		{"UnrecognizedClient (bad credentials)", sdk("KMS", 400, api("UnrecognizedClientException")), false},
		{"InvalidSignature", sdk("DynamoDB", 403, api("InvalidSignatureException")), false},
		{"ExpiredToken", sdk("KMS", 400, api("ExpiredTokenException")), false},
		{"InvalidCiphertext", sdk("KMS", 400, &kmstypes.InvalidCiphertextException{}), false},
		{"KMS NotFound", sdk("KMS", 400, &kmstypes.NotFoundException{}), false},
		{"KMS Disabled", sdk("KMS", 400, &kmstypes.DisabledException{}), false},
		{"KMS invalid state", sdk("KMS", 400, &kmstypes.KMSInvalidStateException{}), false},
		{"ErrNotFound", fmt.Errorf("a/b: %w", cloudchain.ErrNotFound), false},
		{"ErrVersionConflict", &cloudchain.VersionConflictError{Expected: 1, Current: 2}, false},
		{"ErrAuthentication", cloudchain.ErrAuthentication, false},
		{"ErrWrongKey", &cloudchain.WrongKeyError{}, false},
		{"ErrMalformed", cloudchain.ErrMalformed, false},
		{"ErrCorrupt", cloudchain.ErrCorrupt, false},
		{"not found wins over a reset in the same chain", errors.Join(cloudchain.ErrNotFound, sendErr(reset)), false},
		{"credential chain: STS unreachable", &smithy.OperationError{ServiceID: "DynamoDB", Err: fmt.Errorf("get identity: %w", &smithy.OperationError{ServiceID: "STS", Err: &smithyhttp.RequestSendError{Err: refused}})}, false},
		{"credential chain: IMDS unreachable", fmt.Errorf("get identity: %w", &smithy.OperationError{ServiceID: "ec2imds", Err: sendErr(refused)}), false},
		{"cancelled inner context", fmt.Errorf("x: %w", context.Canceled), false},
		{"unknown error", errors.New("something else"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RegionDown(context.Background(), c.err); got != c.want {
				t.Fatalf("RegionDown(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// TestRegionDownCallerDeadline: once the caller's own context has ended
// (cchain's --timeout, or Ctrl-C), nothing fails over, whatever the error.
func TestRegionDownCallerDeadline(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for name, ctx := range map[string]context.Context{"deadline": expired, "cancelled": cancelled} {
		for _, err := range []error{
			fmt.Errorf("get: %w", context.DeadlineExceeded),
			sendErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}),
			sdk("DynamoDB", 503, api("ServiceUnavailable")),
		} {
			if RegionDown(ctx, err) {
				t.Errorf("%s: RegionDown(%v) = true after the caller's context ended", name, err)
			}
		}
	}
}

type netTimeout struct{}

func (*netTimeout) Error() string   { return "net/http: timeout awaiting response headers" }
func (*netTimeout) Timeout() bool   { return true }
func (*netTimeout) Temporary() bool { return true }
