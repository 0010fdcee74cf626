package main

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

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
	root.SetArgs(fixBareSave(args))
	root.SetIn(e.stdin)
	root.SetOut(a.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
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

// fixBareSave turns a trailing `-s` or `--save` with no value into `-s -`, so
// that `cchain -u alice -e db -s` prompts for the secret instead of failing.
func fixBareSave(args []string) []string {
	if n := len(args); n > 0 && (args[n-1] == "-s" || args[n-1] == "--save") {
		return append(args[:n:n], "-")
	}
	return args
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
