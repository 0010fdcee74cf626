package cloudchain

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on identifiers, in bytes of UTF-8. They are DynamoDB's limits on a
// partition key (the service) and a sort key (the user), so that a name
// accepted by one backend is accepted by every backend.
const (
	MaxServiceLen = 2048
	MaxUserLen    = 1024
)

// ServiceKeyUser is the user name under which a service's key ring is kept,
// in the service's own partition (so that per-service IAM conditions cover
// it). It starts with a control character, which no valid user name has, so
// it can never collide with a secret, and it sorts before every user.
const ServiceKeyUser = "\x01cloudchain:service-keys"

// ValidateID checks a service and a user name. Both must be non-empty, valid
// UTF-8, free of control characters, and within MaxServiceLen and MaxUserLen
// bytes, and free of Unicode format characters (category Cf). The error wraps ErrInvalidID and says what is wrong; it quotes the
// name only when the name is printable.
func ValidateID(service, user string) error {
	if err := validateName("service", service, MaxServiceLen); err != nil {
		return err
	}
	return validateName("user", user, MaxUserLen)
}

// ValidateService checks a service name alone, as ValidateID does.
func ValidateService(service string) error {
	return validateName("service", service, MaxServiceLen)
}

func validateName(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidID, what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s name is not valid UTF-8", ErrInvalidID, what)
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s name is %d bytes long, the limit is %d", ErrInvalidID, what, len(s), max)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s name has a control character (%U) at byte %d", ErrInvalidID, what, r, i)
		}
		// Format characters (U+200B zero width space, U+202E right-to-left
		// override, ...) are invisible or reorder text: two names that look
		// alike in a listing must be the same name.
		if unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%w: %s name has an invisible format character (%U) at byte %d", ErrInvalidID, what, r, i)
		}
	}
	return nil
}
