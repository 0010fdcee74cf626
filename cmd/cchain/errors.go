package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/failover"
)

// Exit codes. They are part of the interface: scripts test them.
const (
	exitOK          = 0
	exitError       = 1 // any other failure
	exitUsage       = 2 // bad flags, arguments, ids or configuration
	exitNotFound    = 3 // the secret or version does not exist
	exitDeleted     = 4 // the secret is deleted (its history is kept)
	exitConflict    = 5 // --if-version did not match, or undelete of a live secret
	exitAuth        = 6 // tampered record, wrong key, or ciphertext rejected
	exitAccess      = 7 // access denied, no credentials, no region
	exitNotSetUp    = 8 // the table or store does not exist: run cchain setup
	exitUnavailable = 9 // throttled, or the store is locked by another process
	exitCorrupt     = 10
	exitInterrupted = 130 // SIGINT (Ctrl-C)
	exitTerminated  = 143 // SIGTERM
)

// exitNames are the stable names of the exit codes in JSON errors.
var exitNames = map[int]string{
	exitError:       "error",
	exitUsage:       "usage",
	exitNotFound:    "not_found",
	exitDeleted:     "deleted",
	exitConflict:    "conflict",
	exitAuth:        "authentication",
	exitAccess:      "access",
	exitNotSetUp:    "not_set_up",
	exitUnavailable: "unavailable",
	exitCorrupt:     "corrupt",
	exitInterrupted: "interrupted",
	exitTerminated:  "terminated",
}

// usageError is an error in how cchain was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// signalError is the end of a run stopped by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "terminated (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}

func (e *signalError) code() int {
	if e.sig == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// classify maps an error to its exit code and an optional hint for the user.
func classify(err error) (int, string) {
	var (
		ue *usageError
		se *signalError
	)
	switch {
	case errors.As(err, &ue):
		return exitUsage, "run `cchain --help` for usage"
	case errors.As(err, &se):
		return se.code(), ""
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable, "the store did not answer within --timeout; try again, or raise --timeout"
	case errors.Is(err, context.Canceled):
		return exitInterrupted, ""
	case errors.Is(err, cloudchain.ErrInvalidID):
		return exitUsage, "services and users are non-empty UTF-8 without control or format characters"
	case errors.Is(err, config.ErrConfig):
		return exitUsage, "see the Configuration section of the README"
	case errors.Is(err, cloudchain.ErrNotFound):
		return exitNotFound, "list what is stored with `cchain list` or `cchain list SERVICE`, and check the store with `cchain status`"
	case errors.Is(err, cloudchain.ErrDeleted):
		return exitDeleted, "see `cchain history SERVICE USER`; `cchain undelete SERVICE USER` restores it"
	case errors.Is(err, cloudchain.ErrNotDeleted):
		return exitConflict, "the secret is not deleted, so there is nothing to restore; `cchain rollback SERVICE USER VERSION` puts an earlier version back"
	case errors.Is(err, cloudchain.ErrVersionConflict):
		return exitConflict, "someone else changed the secret; check `cchain history SERVICE USER` and try again"
	case errors.Is(err, cloudchain.ErrCorrupt):
		return exitCorrupt, "the store file is damaged; restore it from a backup"
	case errors.Is(err, cloudchain.ErrWrongKey):
		return exitAuth, "check the KMS key ([IAMKMS] keyalias) or the data directory the store uses"
	case errors.Is(err, failover.ErrPrimaryDown):
		return exitUnavailable, "the primary region is down; reads still work through the replica regions, writes wait for the primary"
	case errors.As(err, new(*cloudchain.RollbackError)):
		return exitAuth, "an older copy of the secret is in the table; if a replica region served this read, it may lag: try again in a few seconds"
	case errors.Is(err, cloudchain.ErrAuthentication):
		return exitAuth, "the stored record was modified or moved; `cchain history` shows versions you can roll back to"
	case errors.Is(err, cloudchain.ErrMalformed):
		return exitAuth, "the stored data is damaged or was altered; restore it from a backup (point-in-time recovery), or remove it with `cchain delete SERVICE USER --purge`"
	case errors.Is(err, config.ErrKeyPermissions):
		return exitAuth, ""
	case errors.Is(err, cloudchain.ErrAccessDenied):
		return exitAccess, "see the IAM policies in the README"
	case errors.Is(err, config.ErrNoCredentials), errors.Is(err, config.ErrNoRegion):
		return exitAccess, ""
	case errors.Is(err, cloudchain.ErrNotSetUp):
		return exitNotSetUp, "run `cchain setup`"
	case errors.Is(err, cloudchain.ErrThrottled):
		return exitUnavailable, "the service is throttling requests; try again shortly"
	case errors.Is(err, cloudchain.ErrLocked):
		return exitUnavailable, "wait for the other cchain process to finish, or raise lock_timeout in [cloudchain]"
	case errors.Is(err, cloudchain.ErrTooLarge):
		return exitUsage, ""
	}
	return exitError, ""
}

// jsonError is the form of an error on stderr under --json.
type jsonError struct {
	Error struct {
		Code    int    `json:"code"`
		Name    string `json:"name"`
		Message string `json:"message"`
		Hint    string `json:"hint,omitempty"`
	} `json:"error"`
}

// exitCoder is an error that carries the exit status cchain must end with.
type exitCoder interface{ exitCode() int }

// report prints err on w and returns the exit code: as `cchain: message`
// then `hint: ...` when one helps, or as one JSON object when asJSON. This
// is the only place errors are printed. Messages may hold stored text (names,
// key ids), so unsafe characters are escaped line by line.
func report(w io.Writer, err error, asJSON bool) int {
	// An error that carries its own exit status (the status of a command
	// that exec supervised, diff's "they differ") keeps it; with an empty
	// message nothing is printed.
	code, hint := classify(err)
	var ec exitCoder
	if errors.As(err, &ec) {
		code = ec.exitCode()
		if err.Error() == "" {
			return code
		}
	}
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = safeInline(l)
	}
	// Messages that already carry a hint line keep theirs.
	for i, l := range lines {
		if strings.HasPrefix(l, "hint: ") {
			hint = strings.TrimPrefix(strings.Join(lines[i:], " "), "hint: ")
			lines = lines[:i]
			break
		}
	}
	msg := strings.Join(lines, "\n")
	if asJSON {
		var je jsonError
		je.Error.Code, je.Error.Name, je.Error.Message, je.Error.Hint = code, exitNames[code], msg, hint
		b, _ := json.Marshal(je)
		fmt.Fprintf(w, "%s\n", b)
		return code
	}
	fmt.Fprintf(w, "cchain: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return code
}
