// Package migrate reads secrets out of other secret stores (credstash tables,
// SSM Parameter Store trees in chamber's layout, and AWS Secrets Manager) and
// returns them as plain (service, user, value) triples for cloudchain to
// write. It writes nothing.
//
// Each reader takes a narrow interface over the one or two SDK operations it
// uses, so that tests can give it a fake, and reads everything before
// returning: the caller sees every secret and every failure before it
// decides to write anything.
//
// # Failures
//
// An item that cannot be verified, decrypted or named (a credstash item whose
// HMAC does not match, a name that is not a valid cloudchain name, ...) is a
// Failure, named by its source, and never a Secret. A failure that is not an
// item's own (the table cannot be scanned, KMS is unreachable or throttles
// beyond its retries) stops the read with an error, so that an outage never
// looks like a bad item.
//
// Errors and failures never contain a secret value.
package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudchain/cloudchain"
)

// Secret is one secret read from another store, with the cloudchain name it
// maps to.
type Secret struct {
	Service, User string
	Value         []byte
	// Source says where it came from, for reports: "credstash db.alice
	// version 0000000000000000003", "ssm /db/alice", "secretsmanager
	// prod/db key password".
	Source string
}

// Failure is an item that was not read, and must not be written.
type Failure struct {
	Source string
	Err    error
}

func (f Failure) Error() string { return f.Source + ": " + f.Err.Error() }

// Result is what a reader found.
type Result struct {
	// Secrets are in a stable order: by source name, and for a credstash
	// read with every version, each name's versions oldest first.
	Secrets  []Secret
	Failures []Failure
}

// Zero clears every secret value of r.
func (r *Result) Zero() {
	for _, s := range r.Secrets {
		cloudchain.Zero(s.Value)
	}
}

// ErrName marks a source name that does not map to a valid cloudchain
// (service, user).
var ErrName = errors.New("cannot name the secret")

// Mapper maps a source name to a cloudchain (service, user).
type Mapper func(name string) (service, user string, err error)

// IntoService maps every name to user name in service.
func IntoService(service string) Mapper {
	return func(name string) (string, string, error) { return checked(service, name) }
}

// SplitAt maps a name to service and user at the first sep: "db.alice" is
// (db, alice) for sep ".". A name without sep, or with nothing on one side of
// it, fails with ErrName.
func SplitAt(sep string) Mapper {
	return func(name string) (string, string, error) {
		service, user, ok := strings.Cut(name, sep)
		if !ok || service == "" || user == "" {
			return "", "", fmt.Errorf("%w: the name has no %q with text on both sides (give --service SERVICE to import it whole)", ErrName, sep)
		}
		return checked(service, user)
	}
}

func checked(service, user string) (string, string, error) {
	if err := cloudchain.ValidateID(service, user); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrName, err)
	}
	return service, user, nil
}
