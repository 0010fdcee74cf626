package dynamodb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain"
)

// translate turns an SDK error of operation op (such as "GetItem") into an
// error wrapping the matching cloudchain sentinel, keeping the SDK error in
// the chain. Unknown errors are only wrapped with the operation and table.
func (b *Backend) translate(op string, err error) error {
	return translateError(op, b.table, b.region, err)
}

func translateError(op, table, region string, err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return &sdkError{sentinel: cloudchain.ErrNotSetUp, sdk: err,
			msg: fmt.Sprintf("DynamoDB table %q does not exist in region %s (dynamodb:%s)\nhint: run `cchain setup` to create it", table, regionName(region), op)}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch code := apiErr.ErrorCode(); {
		case code == "AccessDeniedException":
			return &sdkError{sentinel: cloudchain.ErrAccessDenied, sdk: err,
				msg: fmt.Sprintf("dynamodb:%s on table %q: %s", op, table, apiErr.ErrorMessage())}
		case isThrottle(code):
			return fmt.Errorf("%w: dynamodb:%s on table %q kept failing after retries: %w", cloudchain.ErrThrottled, op, table, err)
		case code == "ValidationException" && strings.Contains(apiErr.ErrorMessage(), "Item size"):
			// Our size computation should prevent this; if a server counts
			// differently, it is still the same answer.
			return &sdkError{sentinel: cloudchain.ErrTooLarge, sdk: err,
				msg: fmt.Sprintf("dynamodb:%s on table %q: %s", op, table, apiErr.ErrorMessage())}
		}
	}
	return fmt.Errorf("dynamodb:%s on table %q: %w", op, table, err)
}

func isThrottle(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling", "TooManyRequestsException":
		return true
	}
	return false
}

func regionName(region string) string {
	if region == "" {
		return "(unknown)"
	}
	return region
}

// sdkError is a translated SDK error: it reads as the sentinel and msg, and
// unwraps to both the sentinel and the SDK error, whose own text (request
// ids, exception names) would only clutter the message.
type sdkError struct {
	sentinel error
	msg      string
	sdk      error
}

func (e *sdkError) Error() string   { return e.sentinel.Error() + ": " + e.msg }
func (e *sdkError) Unwrap() []error { return []error{e.sentinel, e.sdk} }
