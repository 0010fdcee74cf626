package awskms

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain"
)

// Error is a KMS error translated at the provider boundary. Its message says
// what was being done; errors.Is finds its cloudchain sentinel (if any), and
// errors.As finds the SDK error (such as *types.DisabledException).
type Error struct {
	// Op is the KMS action, such as "kms:Decrypt".
	Op string
	// Key names the KMS key the request used (empty for a Decrypt that let
	// KMS find the key from the ciphertext).
	Key string
	// Kind is the cloudchain sentinel the error wraps, or nil.
	Kind error
	// Err is the error the SDK returned.
	Err error

	msg string
}

// Error returns the translated message.
func (e *Error) Error() string { return e.msg }

// Unwrap returns Kind (if not nil) and Err.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// throttleCodes are the KMS error codes for request-rate throttling.
var throttleCodes = map[string]bool{
	"ThrottlingException":      true,
	"LimitExceededException":   true,
	"Throttling":               true,
	"TooManyRequestsException": true,
	"RequestLimitExceeded":     true,
}

// translate turns an SDK error from the KMS action op on key into an *Error
// with a clear message and the matching cloudchain sentinel. ownKey says
// that key is the provider's configured key (GenerateDataKey, Encrypt),
// rather than one recorded with a ciphertext.
func translate(op, key string, ownKey bool, err error) error {
	action := "kms:" + op
	on := action
	if key != "" {
		on += " on key " + key
	}
	e := &Error{Op: action, Key: key, Err: err}

	var api smithy.APIError
	if !errors.As(err, &api) {
		// Transport errors, cancellation, retry quota exhaustion and the like:
		// the SDK's message already says what happened.
		e.msg = fmt.Sprintf("%s: %v", on, err)
		return e
	}
	code, msg := api.ErrorCode(), api.ErrorMessage()
	detail := code
	if msg != "" {
		detail += ": " + msg
	}
	switch {
	case code == "InvalidCiphertextException":
		e.Kind = cloudchain.ErrAuthentication
		e.msg = fmt.Sprintf("%s: KMS rejected the ciphertext or its encryption context: %v", on, cloudchain.ErrAuthentication)
	case code == "IncorrectKeyException":
		e.Kind = cloudchain.ErrWrongKey
		e.msg = fmt.Sprintf("%s: the ciphertext was not made under key %s: %v", action, key, cloudchain.ErrWrongKey)
	case code == "AccessDeniedException":
		e.Kind = cloudchain.ErrAccessDenied
		e.msg = fmt.Sprintf("%s: %v (%s)\nhint: the caller's IAM policy and the key policy must allow %s on the key", on, cloudchain.ErrAccessDenied, detail, action)
	case throttleCodes[code]:
		e.Kind = cloudchain.ErrThrottled
		attempts := ""
		var max *retry.MaxAttemptsError
		if errors.As(err, &max) {
			attempts = fmt.Sprintf(" after %d attempts", max.Attempt)
		}
		e.msg = fmt.Sprintf("%s: %v by KMS%s (%s)", on, cloudchain.ErrThrottled, attempts, code)
	case code == "NotFoundException" && ownKey:
		e.Kind = cloudchain.ErrNotSetUp
		e.msg = fmt.Sprintf("%s: KMS key %s not found (%s)\nhint: check keyalias in the [IAMKMS] section of the config file and the region, or run `cchain setup --create-key`", action, key, detail)
	case code == "NotFoundException":
		e.msg = fmt.Sprintf("%s: KMS key %s not found; it may have been deleted (%s)", action, keyOrEmbedded(key), detail)
	case code == "DisabledException":
		e.msg = fmt.Sprintf("%s: KMS key %s is disabled (%s)\nhint: enable it with `aws kms enable-key`", action, keyOrEmbedded(key), detail)
	case code == "KMSInvalidStateException":
		e.msg = fmt.Sprintf("%s: KMS key %s cannot be used in its current state, for example pending deletion (%s)", action, keyOrEmbedded(key), detail)
	default:
		e.msg = fmt.Sprintf("%s: %s", on, detail)
	}
	return e
}

func keyOrEmbedded(key string) string {
	if key == "" {
		return "(named in the ciphertext)"
	}
	return key
}

// isCode reports whether err carries the AWS error code.
func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}
