package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// env is everything cchain takes from its process: streams, environment and
// terminal. Tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// stdinTerminal reports whether stdin is an interactive terminal.
	stdinTerminal bool
	// readPassword reads a line from the terminal without echo.
	readPassword func() ([]byte, error)
}

func newEnv() *env {
	fd := int(os.Stdin.Fd())
	return &env{
		stdin:         os.Stdin,
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		lookup:        os.LookupEnv,
		stdinTerminal: term.IsTerminal(fd),
		readPassword:  func() ([]byte, error) { return term.ReadPassword(fd) },
	}
}

// app holds the state of one invocation.
type app struct {
	env  *env
	over config.Overrides

	historyDepth int
	legacyWrites bool
	lockTimeout  time.Duration

	cfg   *config.Config
	store *cloudchain.Store
}

func run(ctx context.Context, args []string, e *env) int {
	a := &app{env: e}
	root := a.rootCommand()
	root.SetArgs(fixBareSave(args))
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if a.store != nil {
		if cerr := a.store.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if msg, ok := cobraUsage(err.Error()); ok {
			err = &usageError{msg}
		}
		return report(e.stderr, err)
	}
	return exitOK
}

// cobraUsage recognises cobra's and pflag's usage errors and rewrites them
// so that they never repeat what was typed: a mistyped command line can hold
// a secret (a password that starts with "-", or one with a space given
// unquoted to -s).
func cobraUsage(msg string) (string, bool) {
	const notShown = "(not shown, in case it is a secret)"
	switch {
	case strings.HasPrefix(msg, "unknown command"):
		return "unexpected argument " + notShown + "; the commands are put, get, history, rollback, delete, undelete, list, setup and version; quote a secret that has spaces, or give it on stdin with -s -", true
	case strings.HasPrefix(msg, "unknown shorthand flag"), strings.HasPrefix(msg, "flag needs an argument"):
		// "unknown shorthand flag: 'S' in -Sup3rS3cret": keep the letter only.
		if i := strings.Index(msg, " in -"); i >= 0 {
			msg = msg[:i]
		}
		return msg, true
	case strings.HasPrefix(msg, "unknown flag"), strings.HasPrefix(msg, "bad flag syntax"):
		return "unknown flag " + notShown + "; run `cchain COMMAND --help` for the flags, and give a secret that starts with - on stdin", true
	case strings.HasPrefix(msg, "invalid argument"):
		// `invalid argument "VALUE" for "--flag" flag: ...`: keep the flag.
		if m := invalidFlagValue.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("invalid value for %s %s", m[1], notShown), true
		}
		return "invalid flag value " + notShown, true
	case strings.Contains(msg, "arg(s)"):
		return msg, true
	}
	return "", false
}

var invalidFlagValue = regexp.MustCompile(`for "([^"]+)" flag`)

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
	st, err := cfg.Open(cmd.Context())
	if err != nil {
		return nil, err
	}
	a.store = st
	return st, nil
}

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

const rootLong = `cchain stores secrets by (service, user), encrypted with envelope encryption
(AES-256-GCM under a KMS or local key), in DynamoDB or in an embedded file store.

With no configuration it uses the embedded store under ~/.local/share/cloudchain;
a ~/.cchainrc with a [dynamo] section switches to DynamoDB and KMS.

The flags of the original Python tool still work:
  -u/--user USER -e/--service SERVICE -s/--save SECRET   save a secret
  -u/--user USER -e/--service SERVICE -r/--read          read it

Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 not found, 4 deleted,
5 version conflict, 6 authentication failed (tampered, moved or wrong key),
7 access denied or no credentials, 8 not set up (run cchain setup),
9 throttled or locked (try again).`

const rootExample = `  cchain -u alice -e db -s hunter2      # save (as the Python tool did)
  cchain -u alice -e db -r              # read: prints hunter2
  printf %s "$TOKEN" | cchain put api deploy -   # save from stdin, byte for byte
  cchain put db alice                   # prompt without echo, twice
  cchain get db alice --version 2       # an earlier version
  cchain history db alice               # who changed it, and when
  cchain rollback db alice 2            # put version 2 back`

func (a *app) rootCommand() *cobra.Command {
	var (
		user, service, save string
		read, noNewline     bool
	)
	root := &cobra.Command{
		Use:           "cchain",
		Short:         "Store and read secrets by service and user",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			saving := cmd.Flags().Changed("save")
			if !saving && !read && user == "" && service == "" {
				return cmd.Help()
			}
			switch {
			case saving && read:
				return usagef("-s/--save and -r/--read cannot be used together")
			case !saving && !read:
				return usagef("give -s/--save SECRET to save or -r/--read to read")
			case user == "" || service == "":
				return usagef("-u/--user and -e/--service are both required with %s", map[bool]string{true: "-s/--save", false: "-r/--read"}[saving])
			}
			if saving {
				return a.legacySave(cmd, service, user, save)
			}
			return a.legacyRead(cmd, service, user, noNewline)
		},
	}
	f := root.Flags()
	f.StringVarP(&user, "user", "u", "", "user name (legacy interface)")
	f.StringVarP(&service, "service", "e", "", "service name (legacy interface)")
	f.StringVarP(&save, "save", "s", "", "save `SECRET`; - reads it from stdin, or prompts on a terminal")
	f.BoolVarP(&read, "read", "r", false, "read the secret")
	f.BoolVarP(&noNewline, "no-newline", "n", false, "print the secret without a trailing newline")

	p := root.PersistentFlags()
	p.StringVar(&a.over.ConfigFile, "config", "", "config `file` (default $CLOUDCHAIN_CONFIG or ~/.cchainrc)")
	p.StringVar(&a.over.Backend, "backend", "", "`local` or dynamodb (default: dynamodb if the config has [dynamo])")
	p.StringVar(&a.over.DataDir, "data-dir", "", "embedded store `directory` (default $CLOUDCHAIN_DATA_DIR or $XDG_DATA_HOME/cloudchain)")
	p.StringVar(&a.over.Table, "table", "", "DynamoDB `table` (default [dynamo] tablename, or safedb)")
	p.StringVar(&a.over.Region, "region", "", "AWS `region`")
	p.StringVar(&a.over.Profile, "profile", "", "AWS shared config `profile`")
	p.StringVar(&a.over.DynamoEndpoint, "endpoint-url", "", "DynamoDB endpoint `URL` (for DynamoDB-compatible servers)")
	p.StringVar(&a.over.KMSEndpoint, "kms-endpoint-url", "", "KMS endpoint `URL`")
	p.StringVar(&a.over.KMSKey, "kms-key", "", "KMS `key` for new secrets: alias, key id or ARN")
	p.IntVar(&a.historyDepth, "history-depth", cloudchain.DefaultHistoryDepth, "earlier versions to keep per secret")
	p.BoolVar(&a.legacyWrites, "legacy-format", false, "write the Python tool's format (DynamoDB + KMS only)")
	p.DurationVar(&a.lockTimeout, "lock-timeout", config.DefaultLockTimeout, "how long to wait for another process's lock on the embedded store")

	root.AddCommand(
		a.putCommand(), a.getCommand(), a.historyCommand(), a.rollbackCommand(),
		a.deleteCommand(), a.undeleteCommand(), a.listCommand(), a.setupCommand(), a.versionCommand(),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if msg, ok := cobraUsage(err.Error()); ok {
			return &usageError{msg}
		}
		return &usageError{"invalid flags (not shown, in case they hold a secret); run `cchain COMMAND --help`"}
	})
	return root
}

// readSecret returns the secret to save: value itself, or stdin when value
// is "-" (a prompt without echo when stdin is a terminal).
func (a *app) readSecret(value string, fromArg bool) ([]byte, error) {
	if fromArg && value != "-" {
		return []byte(value), nil
	}
	if a.env.stdinTerminal {
		return a.prompt()
	}
	b, err := io.ReadAll(a.env.stdin)
	if err != nil {
		return nil, fmt.Errorf("reading the secret from stdin: %w", err)
	}
	return b, nil
}

func (a *app) prompt() ([]byte, error) {
	fmt.Fprint(a.env.stderr, "Secret: ")
	first, err := a.env.readPassword()
	fmt.Fprintln(a.env.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	fmt.Fprint(a.env.stderr, "Again: ")
	second, err := a.env.readPassword()
	fmt.Fprintln(a.env.stderr)
	defer cloudchain.Zero(second)
	if err != nil {
		cloudchain.Zero(first)
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	if !bytes.Equal(first, second) {
		cloudchain.Zero(first)
		return nil, usagef("the two entries differ; nothing was saved")
	}
	if len(first) == 0 {
		return nil, usagef("empty secret; nothing was saved (pipe an empty stdin to save an empty secret)")
	}
	return first, nil
}

func (a *app) legacySave(cmd *cobra.Command, service, user, value string) error {
	secret, err := a.readSecret(value, true)
	if err != nil {
		return err
	}
	defer cloudchain.Zero(secret)
	st, err := a.open(cmd)
	if err != nil {
		return err
	}
	if _, err := st.Put(cmd.Context(), service, user, secret); err != nil {
		return err
	}
	fmt.Fprintln(a.env.stdout, "Secret saved!")
	return nil
}

func (a *app) legacyRead(cmd *cobra.Command, service, user string, noNewline bool) error {
	st, err := a.open(cmd)
	if err != nil {
		return err
	}
	sec, err := st.Get(cmd.Context(), service, user)
	if err != nil {
		return err
	}
	defer cloudchain.Zero(sec.Value)
	return a.printSecret(sec.Value, noNewline)
}

func (a *app) printSecret(v []byte, noNewline bool) error {
	if !noNewline {
		v = append(v[:len(v):len(v)], '\n')
		defer cloudchain.Zero(v)
	}
	_, err := a.env.stdout.Write(v)
	return err
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.env.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// commentOption turns a --comment flag into put options.
func commentOption(comment string) []cloudchain.PutOption {
	if comment == "" {
		return nil
	}
	return []cloudchain.PutOption{cloudchain.WithComment(comment)}
}

func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, usagef("a version must be a whole number (the value is not shown, in case it is a secret)")
	}
	return v, nil
}

func (a *app) putCommand() *cobra.Command {
	var (
		ifVersion string
		comment   string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "put SERVICE USER [VALUE|-]",
		Short: "Save a secret as a new version",
		Long: `Save a secret as a new version. With no VALUE, or with -, the secret is read
from stdin byte for byte (binary is fine, nothing is trimmed); on a terminal it is
prompted for twice without echo. A VALUE on the command line is visible to other
users in ps and lands in shell history: prefer stdin or the prompt.`,
		Example: `  cchain put db alice                        # prompt
  printf %s "$PASSWORD" | cchain put db alice -
  cchain put db alice - < key.pem --comment "new cert"
  cchain put db alice - --if-version 3 < new.txt   # only if still at version 3
  cchain put db alice - --if-version 0 < new.txt   # only if it does not exist`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []cloudchain.PutOption
			if cmd.Flags().Changed("if-version") {
				n, err := parseVersion(ifVersion)
				if err != nil {
					return err
				}
				opts = append(opts, cloudchain.IfVersion(n))
			}
			if comment != "" {
				opts = append(opts, cloudchain.WithComment(comment))
			}
			if err := cloudchain.ValidateID(args[0], args[1]); err != nil {
				return err
			}
			value := "-"
			if len(args) == 3 {
				value = args[2]
			}
			secret, err := a.readSecret(value, len(args) == 3)
			if err != nil {
				return err
			}
			defer cloudchain.Zero(secret)
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			v, err := st.Put(cmd.Context(), args[0], args[1], secret, opts...)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"service": args[0], "user": args[1], "version": v})
			}
			fmt.Fprintf(a.env.stdout, "Secret saved! %s/%s version %d\n", args[0], args[1], v)
			return nil
		},
	}
	cmd.Flags().StringVar(&ifVersion, "if-version", "", "save only if the current version is `N` (0: only if the secret does not exist)")
	cmd.Flags().StringVar(&comment, "comment", "", "a comment stored with the version")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}

// secretJSON is the stable JSON form of a secret (see the README).
type secretJSON struct {
	Service string `json:"service"`
	User    string `json:"user"`
	cloudchain.VersionInfo
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

func (a *app) getCommand() *cobra.Command {
	var (
		ver       string
		noNewline bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "get SERVICE USER",
		Short: "Print a secret (the current version, or --version N)",
		Long: `Print a secret followed by a newline (none with -n). The bytes are printed as
stored. With --json the secret is printed with its metadata: "value" when the
secret is UTF-8 text, "value_base64" otherwise.`,
		Example: `  cchain get db alice
  cchain get db alice --version 2
  cchain get db alice -n > password.txt
  cchain get db alice --json | jq -r .author`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			var sec *cloudchain.Secret
			if cmd.Flags().Changed("version") {
				n, err := parseVersion(ver)
				if err != nil {
					return err
				}
				if n == 0 {
					return usagef("--version must be 1 or more")
				}
				sec, err = st.GetVersion(cmd.Context(), args[0], args[1], n)
				if err != nil {
					return err
				}
			} else if sec, err = st.Get(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			defer cloudchain.Zero(sec.Value)
			if asJSON {
				out := secretJSON{Service: sec.Service, User: sec.User, VersionInfo: sec.VersionInfo}
				if utf8.Valid(sec.Value) {
					s := string(sec.Value)
					out.Value = &s
				} else {
					s := base64.StdEncoding.EncodeToString(sec.Value)
					out.ValueBase64 = &s
				}
				return a.printJSON(out)
			}
			return a.printSecret(sec.Value, noNewline)
		},
	}
	cmd.Flags().StringVar(&ver, "version", "", "print version `N` instead of the current one")
	cmd.Flags().BoolVarP(&noNewline, "no-newline", "n", false, "print without a trailing newline")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the secret and its metadata as JSON")
	return cmd
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func humanSize(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) historyCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history SERVICE USER",
		Short: "List the kept versions of a secret, newest first (never the values)",
		Example: `  cchain history db alice
  cchain history db alice --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			hist, err := st.History(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"service": args[0], "user": args[1], "versions": hist})
			}
			tw := tabwriter.NewWriter(a.env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tCREATED\tAUTHOR\tFORMAT\tKEY\tSIZE\tCOMMENT")
			for _, h := range hist {
				size := humanSize(h.Size)
				if h.Deleted {
					size = "deleted"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Version, humanTime(h.Created), orDash(h.Author),
					h.Format, orDash(h.KeyID), size, orDash(h.Comment))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func (a *app) rollbackCommand() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "rollback SERVICE USER VERSION",
		Short: "Save the content of an earlier version as a new version",
		Long: `Save the content of VERSION as a new version. History is never rewritten: the
versions in between stay readable with get --version.`,
		Example: `  cchain rollback db alice 3`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseVersion(args[2])
			if err != nil {
				return err
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			opts := commentOption(comment)
			v, err := st.Rollback(cmd.Context(), args[0], args[1], n, opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.stdout, "Rolled back %s/%s to the content of version %d as version %d\n", args[0], args[1], n, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "a comment stored with the new version")
	return cmd
}

func (a *app) deleteCommand() *cobra.Command {
	var (
		purge, yes bool
		comment    string
	)
	cmd := &cobra.Command{
		Use:   "delete SERVICE [USER]",
		Short: "Delete a secret (or a whole service), keeping its history",
		Long: `Delete a secret by writing a deletion marker as a new version: reads then report
it as deleted, its history is kept, and undelete or rollback restores it. Without
USER, every secret of SERVICE is deleted.

--purge removes the secret (or service) and its whole history for good. It asks
for confirmation on a terminal; elsewhere it needs --yes.`,
		Example: `  cchain delete db alice
  cchain delete db                       # every secret of db
  cchain delete db alice --purge --yes   # gone for good`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			what := "every secret of service " + service
			if len(args) == 2 {
				what = service + "/" + args[1]
				if err := cloudchain.ValidateID(service, args[1]); err != nil {
					return err
				}
			} else if err := cloudchain.ValidateService(service); err != nil {
				return err
			}
			if purge && !yes {
				if err := a.confirm(fmt.Sprintf("Purge %s and all its history? This cannot be undone.", what)); err != nil {
					return err
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 2 {
				if purge {
					if err := st.Purge(ctx, service, args[1]); err != nil {
						return err
					}
					fmt.Fprintf(a.env.stdout, "Purged %s\n", what)
					return nil
				}
				opts := commentOption(comment)
				v, err := st.Delete(ctx, service, args[1], opts...)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.env.stdout, "Deleted %s (version %d); `cchain undelete %s %s` restores it\n", what, v, service, args[1])
				return nil
			}
			var n int
			if purge {
				n, err = st.PurgeService(ctx, service)
			} else {
				opts := commentOption(comment)
				n, err = st.DeleteService(ctx, service, opts...)
			}
			if err != nil {
				return err
			}
			if n == 0 && !purge {
				entries, lerr := st.List(ctx, service)
				if lerr == nil && len(entries) == 0 {
					return fmt.Errorf("%w: service %s has no secrets", cloudchain.ErrNotFound, service)
				}
			}
			if n == 0 && purge {
				return fmt.Errorf("%w: service %s has no secrets", cloudchain.ErrNotFound, service)
			}
			verb := "Deleted"
			if purge {
				verb = "Purged"
			}
			fmt.Fprintf(a.env.stdout, "%s %d secrets of service %s\n", verb, n, service)
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "remove the secret and its whole history for good")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&comment, "comment", "", "a comment stored with the deletion")
	return cmd
}

// confirm asks a yes/no question on the terminal.
func (a *app) confirm(question string) error {
	if !a.env.stdinTerminal {
		return usagef("refusing to purge without confirmation: stdin is not a terminal; add --yes")
	}
	fmt.Fprintf(a.env.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(a.env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return usagef("not confirmed; nothing was purged")
}

func (a *app) undeleteCommand() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:     "undelete SERVICE USER",
		Short:   "Restore a deleted secret (the last version before its deletion)",
		Example: `  cchain undelete db alice`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			opts := commentOption(comment)
			v, err := st.Undelete(cmd.Context(), args[0], args[1], opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.stdout, "Restored %s/%s as version %d\n", args[0], args[1], v)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "a comment stored with the new version")
	return cmd
}

func (a *app) listCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SERVICE]",
		Short: "List services, or the secrets of a service",
		Long: `Without SERVICE, list the services. With SERVICE, list its secrets with their
current version and last change; deleted secrets are marked. Values are never shown.`,
		Example: `  cchain list
  cchain list db
  cchain list db --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				svcs, err := st.Services(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if svcs == nil {
						svcs = []string{}
					}
					return a.printJSON(map[string]any{"services": svcs})
				}
				for _, s := range svcs {
					fmt.Fprintln(a.env.stdout, s)
				}
				return nil
			}
			entries, err := st.List(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				if entries == nil {
					entries = []cloudchain.Entry{}
				}
				return a.printJSON(map[string]any{"service": args[0], "secrets": entries})
			}
			tw := tabwriter.NewWriter(a.env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tVERSION\tUPDATED\tAUTHOR\tSTATE")
			for _, e := range entries {
				state := "ok"
				if e.Deleted {
					state = "deleted"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", e.User, e.Version, humanTime(e.Created), orDash(e.Author), state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func (a *app) setupCommand() *cobra.Command {
	var createKey bool
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the store: the DynamoDB table (and KMS key), or the embedded store",
		Long: `Create what the configured store needs. It is safe to run again.

DynamoDB: creates the table with the Python tool's key schema (Service, Username)
and on-demand billing, waits until it is active, and enables point-in-time
recovery where the server supports it. A table with another key schema is
reported and never changed. --create-key also creates the KMS key named by
[IAMKMS] keyalias (or --kms-key) if that alias does not exist yet.

Embedded: creates the data directory (0700), the master key (0600) and the store.`,
		Example: `  cchain setup
  cchain setup --create-key --kms-key alias/cloudchain`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			lines, err := cfg.Setup(cmd.Context(), config.SetupOptions{CreateKey: createKey})
			for _, l := range lines {
				fmt.Fprintln(a.env.stdout, l)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&createKey, "create-key", false, "create the KMS key and alias if missing")
	return cmd
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of cchain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version
			info, ok := debug.ReadBuildInfo()
			if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
				v = info.Main.Version
			}
			if v == "" {
				v = "dev"
			}
			goVersion := "unknown"
			if ok {
				goVersion = info.GoVersion
			}
			fmt.Fprintf(a.env.stdout, "cchain %s (%s)\n", v, goVersion)
			return nil
		},
	}
}
