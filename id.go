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

// ValidateID checks a service and a user name. Both must be non-empty, valid
// UTF-8, free of control characters, and within MaxServiceLen and MaxUserLen
// bytes. The error wraps ErrInvalidID and says what is wrong; it quotes the
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
	}
	return nil
}
