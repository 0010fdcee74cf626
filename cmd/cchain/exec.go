package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// Exit codes of exec, as a shell gives them.
const (
	exitCannotRun = 126 // the command was found but could not be run
	exitNoCommand = 127 // the command was not found
)

// minWatch is the shortest --watch interval: a supervisor re-reads its
// services at most ten times a second, whatever the jitter.
const minWatch = 100 * time.Millisecond

// defaultKeep are the variables --pristine keeps unless --keep says
// otherwise.
var defaultKeep = []string{"PATH", "HOME", "USER", "LANG", "TERM"}

// execOptions are the settings of one exec.
type execOptions struct {
	services []string
	// argv is the command and its arguments.
	argv   []string
	naming secretfmt.EnvOptions
	// environ is cchain's own environment ("NAME=value").
	environ  []string
	pristine bool
	keep     []string
	strict   bool
	envFile  string
	// watch is the re-read interval; 0 replaces cchain with the command.
	watch time.Duration
	// reload is the signal sent on a change instead of a restart (nil:
	// restart).
	reload os.Signal
	// grace is how long a restart waits for the command to stop before it
	// kills it.
	grace time.Duration
}

func (a *app) newExecCommand() *cobra.Command {
	var (
		o      execOptions
		naming namingOptions
		sig    string
	)
	cmd := &cobra.Command{
		Use:   "exec [SERVICE...] -- COMMAND [ARGS...]",
		Short: "Run a command with the secrets of services in its environment",
		Long: `Run COMMAND with the current secrets of the services as environment
variables. Names are those of ` + "`cchain env`" + `: a user name that is a valid
environment name is kept exactly, any other is upper-cased with other
characters turned into _; --map USER=NAME or --map SERVICE/USER=NAME names one
explicitly, --prefix P_ goes before every name. A later service overrides an
earlier one; two secrets of one service with one name are an error naming both.

exec fails closed: if any secret cannot be read or decrypted, or any reference
cannot be resolved, the command is not started, every failing secret is
named, and the exit code is that of the failure.

The environment is cchain's own (or, with --pristine, only PATH, HOME, USER,
LANG and TERM, or the variables --keep names), then the variables of
--env-file (dotenv), then the secrets. A variable of the inherited environment
or of the env file whose value is a reference, cchain://SERVICE/USER or
cchain://SERVICE/USER?version=N, is replaced by that secret. --strict refuses
to override a variable that is already set.

On unix the command replaces cchain (its PID, signals and exit code are its
own). A command that is not found exits 127; one that cannot be run 126.

With --watch DURATION cchain stays as a supervisor instead: it starts the
command, forwards SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
SIGALRM and SIGCONT to it, re-reads the services every DURATION (with ±10%
jitter, never more often than every 100ms, and backing off up to 16 times
DURATION while reads fail), and when a secret changed restarts the command
(SIGTERM, then SIGKILL after --grace) or, with --signal, sends it that
signal. A failed re-read warns and keeps the command running. cchain exits
with the command's exit code (128+N when signal N killed it).`,
		Example: `  cchain exec db -- ./server
  cchain exec db api --prefix APP_ --map db/password=PGPASSWORD -- psql
  cchain exec --pristine --keep PATH,HOME db -- env
  DB_URL=cchain://db/url cchain exec -- ./server
  cchain exec db --watch 5m --signal HUP -- nginx -g 'daemon off;'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				return usagef("give the command after --: cchain exec SERVICE... -- COMMAND [ARGS...]")
			}
			o.services, o.argv = args[:dash], args[dash:]
			if len(o.argv) == 0 {
				return usagef("no command after --: cchain exec SERVICE... -- COMMAND [ARGS...]")
			}
			if len(o.services) == 0 && o.envFile == "" && !hasRefs(os.Environ()) {
				return usagef("no SERVICE, no --env-file and no cchain:// reference in the environment: nothing to add")
			}
			var err error
			if o.naming, err = naming.envOptions(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("keep") {
				o.keep = defaultKeep
			} else if !o.pristine {
				return usagef("--keep needs --pristine")
			}
			if cmd.Flags().Changed("watch") && o.watch < minWatch {
				return usagef("--watch must be at least %v", minWatch)
			}
			if sig != "" {
				if o.watch == 0 {
					return usagef("--signal needs --watch")
				}
				if o.reload, err = parseSignal(sig); err != nil {
					return err
				}
			}
			o.environ = os.Environ()
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runExec(cmd.Context(), a, st, o)
		},
	}
	naming.addFlags(cmd.Flags())
	f := cmd.Flags()
	f.BoolVar(&o.pristine, "pristine", false, "start from an empty environment (plus PATH HOME USER LANG TERM, or --keep)")
	f.StringSliceVar(&o.keep, "keep", nil, "with --pristine, keep these `NAMES` instead of PATH,HOME,USER,LANG,TERM (--keep= keeps none)")
	f.BoolVar(&o.strict, "strict", false, "refuse to override a variable that is already set")
	f.StringVar(&o.envFile, "env-file", "", "add the variables of a dotenv `FILE` (values may be cchain:// references)")
	f.DurationVar(&o.watch, "watch", 0, "supervise the command and re-read the secrets every `DURATION`")
	f.StringVar(&sig, "signal", "", "with --watch, send `SIG` on a change instead of restarting")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "with --watch, how long a restart waits before SIGKILL")
	return cmd
}

func hasRefs(environ []string) bool {
	for _, kv := range environ {
		if _, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(v, secretfmt.RefScheme) {
			return true
		}
	}
	return false
}

// exitStatusError ends cchain with an exit code of its own (126, 127, or
// the supervised command's), printing msg unless it is empty.
type exitStatusError struct {
	code int
	msg  string
}

func (e *exitStatusError) Error() string { return e.msg }
func (e *exitStatusError) exitCode() int { return e.code }

// runExec builds the command's environment and runs it: in place of cchain,
// or supervised with --watch. It returns only on failure, or with the
// supervised command's exit status.
func runExec(ctx context.Context, a *app, st *cloudchain.Store, o execOptions) error {
	fileVars, err := readEnvFile(o.envFile)
	if err != nil {
		return err
	}
	build := func(ctx context.Context) ([]string, error) { return execEnv(ctx, st, o, fileVars) }
	env, err := build(ctx)
	if err != nil {
		return err
	}
	path, err := lookCommand(o.argv[0])
	if err != nil {
		return err
	}
	if o.watch == 0 {
		// Nothing of the store may outlive cchain: close it (and zero its
		// keys) before the command takes over the process.
		a.store = nil
		if err := st.Close(); err != nil {
			return err
		}
		return replaceProcess(path, o.argv, env)
	}
	s := &supervisor{
		path: path, argv: o.argv, env: env, reread: build,
		interval: o.watch, reload: o.reload, grace: o.grace,
		stdin: a.env.stdin, stdout: a.env.stdout, stderr: a.env.stderr,
	}
	code := s.run(ctx)
	return &exitStatusError{code: code}
}

// readEnvFile reads a dotenv file with secretfmt's decoder.
func readEnvFile(path string) ([]secretfmt.Secret, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("reading --env-file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, secretfmt.MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading --env-file %s: %w", path, err)
	}
	defer cloudchain.Zero(data)
	if len(data) > secretfmt.MaxInput {
		return nil, usagef("--env-file %s is larger than %d bytes", safe(path), secretfmt.MaxInput)
	}
	vars, err := secretfmt.DecodeDotenv(bytes.NewReader(data), "env-file")
	if err != nil {
		return nil, usagef("--env-file %s: %v", safe(path), err)
	}
	for _, v := range vars {
		if !secretfmt.ValidEnvName(v.User) {
			return nil, usagef("--env-file %s: %s is not a valid environment name ([A-Za-z_][A-Za-z0-9_]*)", safe(path), safe(v.User))
		}
	}
	return vars, nil
}

// execEnv builds the command's environment: the inherited one (or the kept
// part of it), then the env file's variables, then the secrets, with every
// reference resolved. It fails closed.
func execEnv(ctx context.Context, st *cloudchain.Store, o execOptions, fileVars []secretfmt.Secret) ([]string, error) {
	const what = "the command was not started"
	// base is the inherited environment, in order, by name.
	var (
		names  []string
		values = map[string]string{}
	)
	for _, kv := range o.environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if o.pristine && !slices.Contains(o.keep, name) {
			continue
		}
		if _, dup := values[name]; !dup {
			names = append(names, name)
		}
		values[name] = value
	}
	// References, in the inherited environment and in the env file.
	type refVar struct {
		name string
		ref  secretfmt.Ref
	}
	var refVars []refVar
	inherited := make([]string, 0, len(names))
	for _, n := range names {
		inherited = append(inherited, n+"="+values[n])
	}
	envRefs, err := secretfmt.FindEnvRefs(inherited)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, what)
	}
	for _, r := range envRefs {
		refVars = append(refVars, refVar{r.Name, r.Ref})
	}
	var strictErrs []string
	fileValues := map[string]string{}
	for _, v := range fileVars {
		ref, isRef, err := secretfmt.ParseRef(string(v.Value))
		switch {
		case err != nil:
			return nil, fmt.Errorf("--env-file variable %s: %w; %s", v.User, err, what)
		case isRef:
			refVars = append(refVars, refVar{v.User, ref})
		default:
			fileValues[v.User] = string(v.Value)
		}
		if _, set := values[v.User]; set && o.strict {
			strictErrs = append(strictErrs, fmt.Sprintf("%s is set, and --env-file would override it", v.User))
		}
	}

	vars, groups, err := buildEnv(ctx, st, o.services, o.naming, what)
	if err != nil {
		return nil, err
	}
	defer zeroGroups(groups)
	for _, v := range vars {
		if _, set := values[v.Name]; set && o.strict {
			strictErrs = append(strictErrs, fmt.Sprintf("%s is set, and secret %s/%s would override it", v.Name, v.Service, v.User))
			continue
		}
		if _, set := fileValues[v.Name]; set && o.strict {
			strictErrs = append(strictErrs, fmt.Sprintf("%s is set by --env-file, and secret %s/%s would override it", v.Name, v.Service, v.User))
		}
	}
	if len(strictErrs) > 0 {
		sort.Strings(strictErrs)
		return nil, fmt.Errorf("--strict: %d variable(s) would be overridden; %s:\n  %s\nhint: rename the secrets with --map or --prefix, or unset the variables", len(strictErrs), what, strings.Join(strictErrs, "\n  "))
	}

	res := newResolver(st)
	res.addKnown(groups)
	refs := make([]secretfmt.Ref, len(refVars))
	for i, rv := range refVars {
		refs[i] = rv.ref
	}
	resolved, err := res.resolve(ctx, refs, what)
	if err != nil {
		return nil, err
	}
	defer res.zeroSingles(resolved)
	refEnv := make([]secretfmt.EnvVar, len(refVars))
	for i, rv := range refVars {
		refEnv[i] = secretfmt.EnvVar{Name: rv.name, Value: resolved[rv.ref], Service: rv.ref.Service, User: rv.ref.User}
	}

	// Later layers override earlier ones: inherited, env file (references
	// resolved in place), secrets.
	set := func(name, value string) {
		if _, ok := values[name]; !ok {
			names = append(names, name)
		}
		values[name] = value
	}
	for _, v := range fileVars {
		if val, ok := fileValues[v.User]; ok {
			set(v.User, val)
		}
	}
	refKVs, err := secretfmt.Environ(refEnv)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, what)
	}
	for _, kv := range refKVs {
		name, value, _ := strings.Cut(kv, "=")
		set(name, value)
	}
	secretKVs, err := secretfmt.Environ(vars)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, what)
	}
	for _, kv := range secretKVs {
		name, value, _ := strings.Cut(kv, "=")
		set(name, value)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "=" + values[n]
	}
	return out, nil
}

// lookCommand finds the command as a shell would, with the errors and exit
// codes of one.
func lookCommand(name string) (string, error) {
	path, err := exec.LookPath(name)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, exec.ErrDot):
		return "", &exitStatusError{code: exitNoCommand, msg: fmt.Sprintf("%s: command not found (it is in the current directory through a relative PATH entry; run ./%s)", name, name)}
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return "", &exitStatusError{code: exitNoCommand, msg: name + ": command not found"}
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	return "", &exitStatusError{code: exitCannotRun, msg: fmt.Sprintf("%s: cannot run: %v", name, err)}
}
