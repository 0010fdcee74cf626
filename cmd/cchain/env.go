package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// namingOptions are the flags that turn secrets into environment names,
// shared by exec and env. The rules themselves are secretfmt's (BuildEnv).
type namingOptions struct {
	maps   []string
	prefix string
}

func (n *namingOptions) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&n.maps, "map", nil, "name the variable of `USER=NAME` or SERVICE/USER=NAME (repeatable)")
	f.StringVar(&n.prefix, "prefix", "", "put `P_` before every variable name")
}

// envOptions parses the naming flags.
func (n *namingOptions) envOptions() (secretfmt.EnvOptions, error) {
	m, err := secretfmt.ParseMap(n.maps)
	if err != nil {
		return secretfmt.EnvOptions{}, usagef("%v", err)
	}
	if n.prefix != "" && !secretfmt.ValidEnvName(n.prefix) {
		return secretfmt.EnvOptions{}, usagef("--prefix %s is not a valid environment name prefix ([A-Za-z_][A-Za-z0-9_]*)", safe(n.prefix))
	}
	return secretfmt.EnvOptions{Prefix: n.prefix, Map: m}, nil
}

// readError is a bulk read that failed for some secrets: nothing was used.
// Its message names every failing secret, one per line, so that report
// escapes each line.
type readError struct {
	bulk *cloudchain.BulkError
	// what says what was not done ("COMMAND was not started").
	what string
}

func (e *readError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot read %d secret(s); %s:", len(e.bulk.Failures), e.what)
	for _, f := range e.bulk.Failures {
		fmt.Fprintf(&b, "\n  %s/%s: %v", f.Service, f.User, f.Err)
	}
	return b.String()
}

func (e *readError) Unwrap() error { return e.bulk }

// readServices reads the current secrets of services (each once, in the
// order first given) with one bulk read, and groups them by service. It
// fails closed: a secret that cannot be read, or a service with no secrets,
// fails the whole read. The caller zeroes the values (zeroGroups).
func readServices(ctx context.Context, st *cloudchain.Store, services []string, what string) ([][]secretfmt.Secret, error) {
	var uniq []string
	for _, s := range services {
		if !slices.Contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	if len(uniq) == 0 {
		return nil, nil
	}
	secrets, err := st.GetServices(ctx, uniq...)
	if err != nil {
		var be *cloudchain.BulkError
		if errors.As(err, &be) {
			return nil, &readError{bulk: be, what: what}
		}
		return nil, fmt.Errorf("%w; %s", err, what)
	}
	groups := make([][]secretfmt.Secret, len(uniq))
	for _, s := range secrets {
		i := slices.Index(uniq, s.Service)
		groups[i] = append(groups[i], secretfmt.Secret{Service: s.Service, User: s.User, Value: s.Value})
	}
	for i, g := range groups {
		if len(g) == 0 {
			zeroGroups(groups)
			return nil, fmt.Errorf("%w: service %s has no secrets; %s", cloudchain.ErrNotFound, uniq[i], what)
		}
	}
	return groups, nil
}

// minArgs accepts n or more arguments.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return usagef("`%s` needs at least %d argument(s), received %d; see `%s --help`", cmd.CommandPath(), n, len(args), cmd.CommandPath())
	}
}

func zeroGroups(groups [][]secretfmt.Secret) {
	for _, g := range groups {
		for _, s := range g {
			cloudchain.Zero(s.Value)
		}
	}
}

// buildEnv reads services and names their secrets.
func buildEnv(ctx context.Context, st *cloudchain.Store, services []string, opts secretfmt.EnvOptions, what string) ([]secretfmt.EnvVar, [][]secretfmt.Secret, error) {
	groups, err := readServices(ctx, st, services, what)
	if err != nil {
		return nil, nil, err
	}
	vars, err := secretfmt.BuildEnv(groups, opts)
	if err != nil {
		zeroGroups(groups)
		if errors.Is(err, secretfmt.ErrEnvCollision) {
			return nil, nil, fmt.Errorf("%w; %s\nhint: name one of them with --map SERVICE/USER=NAME", err, what)
		}
		return nil, nil, fmt.Errorf("%w; %s", err, what)
	}
	return vars, groups, nil
}

// envCmdOptions are the settings of one env.
type envCmdOptions struct {
	services []string
	naming   secretfmt.EnvOptions
	format   string
}

func (a *app) newEnvCommand() *cobra.Command {
	var (
		o      envCmdOptions
		naming namingOptions
	)
	cmd := &cobra.Command{
		Use:   "env SERVICE...",
		Short: "Print the secrets of services as environment variables",
		Long: `Print the current secrets of the services as environment variables, with the
names exec gives them: a user name that is a valid environment name
([A-Za-z_][A-Za-z0-9_]*) is kept exactly; any other is upper-cased with every
other character turned into _ (db.password is DB_PASSWORD, 9lives is _9LIVES);
--map USER=NAME or --map SERVICE/USER=NAME names one explicitly; --prefix goes
before every name. A later service overrides an earlier one; two secrets of one
service with one name are an error that names both.

The default format is shell: export NAME='value' lines that any POSIX shell
reads back byte for byte (eval "$(cchain env db)"). --format dotenv, json or
yaml print the same set in those forms. A value with a NUL byte cannot be an
environment variable: that is an error, and nothing is printed. If any secret
cannot be read, nothing is printed and every failing secret is named.`,
		Example: `  eval "$(cchain env db)"
  cchain env db api --prefix APP_ --map db/password=DATABASE_PASSWORD
  cchain env db --format dotenv > .env`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.naming, err = naming.envOptions(); err != nil {
				return err
			}
			o.services = args
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runEnv(cmd.Context(), st, a.stdout, o)
		},
	}
	naming.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.format, "format", "shell", "output `format`: shell, dotenv, json or yaml")
	return cmd
}

// runEnv prints the environment of services.
func runEnv(ctx context.Context, st *cloudchain.Store, w io.Writer, o envCmdOptions) error {
	encode, err := envEncoder(o.format)
	if err != nil {
		return err
	}
	vars, groups, err := buildEnv(ctx, st, o.services, o.naming, "nothing was printed")
	if err != nil {
		return err
	}
	defer zeroGroups(groups)
	if err := encode(w, vars); err != nil {
		if errors.Is(err, secretfmt.ErrNotRepresentable) {
			return fmt.Errorf("%w; nothing was printed", err)
		}
		return &outputError{err}
	}
	return nil
}

func envEncoder(name string) (func(io.Writer, []secretfmt.EnvVar) error, error) {
	f, err := secretfmt.ParseFormat(name)
	if err == nil {
		switch f {
		case secretfmt.FormatShell:
			return secretfmt.EncodeShell, nil
		case secretfmt.FormatDotenv:
			return secretfmt.EncodeDotenv, nil
		case secretfmt.FormatJSON:
			return secretfmt.EncodeEnvJSON, nil
		case secretfmt.FormatYAML:
			return secretfmt.EncodeEnvYAML, nil
		}
	}
	return nil, usagef("--format %s is not one of shell, dotenv, json, yaml", safe(name))
}
