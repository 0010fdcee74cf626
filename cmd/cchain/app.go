package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

// env is everything cchain takes from its process: streams, environment and
// terminal. Tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// term is the terminal on stdin, or nil when stdin is not a terminal.
	term terminal
}

func newEnv() *env {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv}
	if t := openTerminal(os.Stdin); t != nil {
		e.term = t
	}
	return e
}

// app holds the state of one invocation.
type app struct {
	env *env
	// stdout records the first error of a write to stdout, so that a result
	// nobody could read never exits 0.
	stdout *stickyWriter
	over   config.Overrides

	historyDepth int
	legacyWrites bool
	lockTimeout  time.Duration
	// timeout bounds everything the command does from opening the store
	// on (--timeout); deadline is that bound, once it is set.
	timeout        time.Duration
	deadline       context.Context
	cancelDeadline context.CancelFunc
	// asJSON is set by the --json flag of any command; errors are then
	// printed as JSON too.
	asJSON bool
	// notices prints what the store reports about successful operations.
	notices *notices

	cfg   *config.Config
	store *cloudchain.Store
}

// run runs cchain with args and returns its exit code. It never exits.
func run(ctx context.Context, args []string, e *env) int {
	a := &app{env: e, stdout: &stickyWriter{w: e.stdout}, notices: &notices{stderr: e.stderr}}
	root := a.newRootCommand()
	root.SetArgs(fixBareSave(root, args))
	root.SetIn(e.stdin)
	root.SetOut(a.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if a.cancelDeadline != nil {
		defer a.cancelDeadline()
	}
	if a.store != nil {
		if cerr := a.store.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && a.stdout.err != nil {
		err = &outputError{a.stdout.err}
	}
	if err != nil && ctx.Err() != nil {
		// Whatever failed, it failed because the user asked to stop.
		err = interrupted(ctx)
	} else if err != nil && a.deadline != nil && context.Cause(a.deadline) == errTimedOut {
		err = &timeoutError{after: a.timeout, err: err}
	}
	if err != nil {
		asJSON := a.asJSON || slices.Contains(args, "--json")
		return report(e.stderr, err, asJSON)
	}
	return exitOK
}

// interrupted is the error of a run stopped by a signal.
func interrupted(ctx context.Context) error {
	var se *signalError
	if cause := context.Cause(ctx); errors.As(cause, &se) {
		return se
	}
	return &signalError{}
}

// fixBareSave turns a `-s` or `--save` with no value into `-s -`, so that
// `cchain -u alice -e db -s` prompts for the secret (or reads stdin)
// instead of failing: a -s that ends the arguments, or that is followed by
// one of cchain's own flags (`-s --allow-empty`), whose text must never be
// saved as the secret. It applies to the legacy interface only (no
// subcommand), so that a program's arguments after `exec --` are never
// touched.
func fixBareSave(root *cobra.Command, args []string) []string {
	if cmd, _, err := root.Find(args); err != nil || cmd != root {
		return args
	}
	isFlag := func(arg string) bool {
		name, _, _ := strings.Cut(arg, "=")
		if name == "-h" || name == "--help" {
			return true
		}
		found := false
		root.Flags().VisitAll(func(f *pflag.Flag) {
			found = found || name == "--"+f.Name || (f.Shorthand != "" && name == "-"+f.Shorthand)
		})
		return found
	}
	var out []string
	for i, arg := range args {
		out = append(out, arg)
		if arg == "--" {
			return append(out, args[i+1:]...)
		}
		// A legacy flag after -s (`-s -r`) is left for the root command to
		// refuse with its own message.
		if (arg == "-s" || arg == "--save") && (i == len(args)-1 || isFlag(args[i+1]) && !slices.Contains(legacyFlags, args[i+1])) {
			out = append(out, "-")
		}
	}
	return out
}

// open loads the configuration and opens the store, once.
func (a *app) open(cmd *cobra.Command) (*cloudchain.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	cfg, err := a.config(cmd)
	if err != nil {
		return nil, err
	}
	cfg.Notify = a.notices.notice
	st, err := cfg.Open(cmd.Context())
	if err != nil {
		return nil, err
	}
	a.store = st
	return st, nil
}

// config loads the configuration once, with the command line's overrides.
func (a *app) config(cmd *cobra.Command) (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	a.startDeadline(cmd)
	flags := cmd.Flags()
	if flags.Changed("history-depth") {
		a.over.HistoryDepth = &a.historyDepth
	}
	if flags.Changed("legacy-format") {
		a.over.LegacyWrites = &a.legacyWrites
	}
	if flags.Changed("lock-timeout") {
		a.over.LockTimeout = &a.lockTimeout
	}
	cfg, err := config.Load(a.env.lookup, a.over)
	if err != nil {
		return nil, err
	}
	a.cfg = cfg
	return cfg, nil
}

// whereNotFound names the store in a not-found error, so that a user who
// reads the wrong store sees which one was read.
func (a *app) whereNotFound(err error) error {
	if err == nil || a.cfg == nil || !errors.Is(err, cloudchain.ErrNotFound) {
		return err
	}
	return &inStoreError{err: err, where: a.cfg.Describe()}
}

// inStoreError adds the store's description to an error.
type inStoreError struct {
	err   error
	where string
}

func (e *inStoreError) Error() string { return e.err.Error() + " in " + e.where }
func (e *inStoreError) Unwrap() error { return e.err }

// defaultTimeout is --timeout's default: a get or put takes well under a
// second, and the SDK's retries (config.RetryAttempts) at most ~6 s more.
const defaultTimeout = time.Minute

// errTimedOut is the cause of a command's context that ran out of --timeout.
var errTimedOut = errors.New("timed out")

// startDeadline gives cmd's context the --timeout deadline, once, when the
// command starts to use the store: prompts for a secret or a confirmation
// come before, and are not bounded. exec --watch supervises a command for as
// long as it runs, so only its first read would be bounded, and is not.
func (a *app) startDeadline(cmd *cobra.Command) {
	if a.deadline != nil || a.timeout <= 0 {
		return
	}
	if f := cmd.Flags().Lookup("watch"); f != nil && f.Changed {
		return
	}
	ctx, cancel := context.WithTimeoutCause(cmd.Context(), a.timeout, errTimedOut)
	a.cancelDeadline = cancel
	a.deadline = ctx
	cmd.SetContext(ctx)
}

// timeoutError is the error of a command that ran out of --timeout.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer within --timeout %v: %v\nhint: check that the store's endpoints are reachable, or raise --timeout; a write that timed out landed whole or not at all (see `cchain history SERVICE USER`)", e.after, e.err)
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }
