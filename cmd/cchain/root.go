package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

const rootLong = `cchain stores secrets by (service, user), encrypted with envelope encryption
(AES-256-GCM under a KMS or local key), in DynamoDB or in an embedded file store.

With no configuration it uses the embedded store under ~/.local/share/cloudchain;
a ~/.cchainrc with a [dynamo] section switches to DynamoDB and KMS.
` + "`cchain status`" + ` shows which store is in use.

The flags of the original Python tool still work:
  -u/--user USER -e/--service SERVICE -s/--save SECRET   save a secret
  -u/--user USER -e/--service SERVICE -r/--read          read it

Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 not found, 4 deleted,
5 version conflict (or undelete of a secret that is not deleted),
6 authentication failed (tampered, moved or wrong key),
7 access denied or no credentials, 8 not set up (run cchain setup),
9 throttled or locked (try again), 10 store corrupt (restore a backup),
130 interrupted (SIGINT), 143 terminated (SIGTERM).`

const rootExample = `  cchain -u alice -e db -s hunter2      # save (as the Python tool did)
  cchain -u alice -e db -r              # read: prints hunter2
  printf %s "$TOKEN" | cchain put api deploy -   # save from stdin, byte for byte
  cchain put db alice                   # prompt without echo, twice
  cchain get db alice --version 2       # an earlier version
  cchain history db alice               # who changed it, and when
  cchain rollback db alice 2            # put version 2 back
  cchain status                         # which store, and is it reachable`

// legacyFlags are the flags of the Python tool's interface. A -s value that
// is one of them is a mistake (`-s -r`), never a secret to save.
var legacyFlags = []string{"-r", "--read", "-u", "--user", "-e", "--service", "-s", "--save", "-n", "--no-newline"}

// legacyOptions are the flags of the original interface.
type legacyOptions struct {
	user, service, save string
	read, noNewline     bool
	allowEmpty          bool
}

func (a *app) newRootCommand() *cobra.Command {
	var o legacyOptions
	root := &cobra.Command{
		Use:           "cchain",
		Short:         "Store and read secrets by service and user",
		Long:          rootLong,
		Example:       rootExample,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Arguments are checked in RunE, to suggest a mistyped command.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			saving := cmd.Flags().Changed("save")
			if !saving && !o.read && o.user == "" && o.service == "" {
				return cmd.Help()
			}
			switch {
			case saving && slices.Contains(legacyFlags, o.save):
				return usagef("-s/--save was given a flag as its value; give the secret after -s, or -s - (or nothing) to read it from stdin or a prompt")
			case saving && o.read:
				return usagef("-s/--save and -r/--read cannot be used together")
			case !saving && !o.read:
				return usagef("give -s/--save SECRET to save or -r/--read to read")
			case o.user == "" || o.service == "":
				return usagef("-u/--user and -e/--service are both required with %s", map[bool]string{true: "-s/--save", false: "-r/--read"}[saving])
			}
			if saving {
				secret, err := a.readSecret(cmd.Context(), secretSource{value: o.save, fromArg: true, allowEmpty: o.allowEmpty})
				if err != nil {
					return err
				}
				defer cloudchain.Zero(secret)
				st, err := a.open(cmd)
				if err != nil {
					return err
				}
				return runLegacySave(cmd.Context(), st, a.stdout, o.service, o.user, secret)
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return a.whereNotFound(runLegacyRead(cmd.Context(), st, a.stdout, o.service, o.user, o.noNewline))
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	f := root.Flags()
	f.StringVarP(&o.user, "user", "u", "", "user name (legacy interface)")
	f.StringVarP(&o.service, "service", "e", "", "service name (legacy interface)")
	f.StringVarP(&o.save, "save", "s", "", "save `SECRET`; - reads it from stdin, or prompts on a terminal")
	f.BoolVarP(&o.read, "read", "r", false, "read the secret")
	f.BoolVarP(&o.noNewline, "no-newline", "n", false, "print the secret without a trailing newline")
	f.BoolVar(&o.allowEmpty, "allow-empty", false, "with -s, accept an empty stdin or value as an empty secret")

	p := root.PersistentFlags()
	p.StringVar(&a.over.ConfigFile, "config", "", "config `file` (default $CLOUDCHAIN_CONFIG or ~/.cchainrc)")
	p.StringVar(&a.over.Backend, "backend", "", "the backend, local or dynamodb (default: dynamodb if the config has [dynamo], else local)")
	p.StringVar(&a.over.DataDir, "data-dir", "", "embedded store `directory` (default $CLOUDCHAIN_DATA_DIR or $XDG_DATA_HOME/cloudchain)")
	p.StringVar(&a.over.Table, "table", "", "DynamoDB `table` (default [dynamo] tablename, or safedb)")
	p.StringVar(&a.over.Region, "region", "", "AWS `region`")
	p.StringVar(&a.over.Profile, "profile", "", "AWS shared config `profile`")
	p.StringVar(&a.over.DynamoEndpoint, "endpoint-url", "", "DynamoDB endpoint `URL` (for DynamoDB-compatible servers)")
	p.StringVar(&a.over.KMSEndpoint, "kms-endpoint-url", "", "KMS endpoint `URL`")
	p.StringVar(&a.over.KMSRegion, "kms-region", "", "AWS `region` of KMS when it differs from DynamoDB's (as credstash's --kms-region)")
	p.StringVar(&a.over.KMSKey, "kms-key", "", "KMS `key` for new secrets: alias, key id or ARN")
	p.IntVar(&a.historyDepth, "history-depth", cloudchain.DefaultHistoryDepth, "earlier versions to keep per secret")
	p.BoolVar(&a.legacyWrites, "legacy-format", false, "write the Python tool's format (DynamoDB + KMS only)")
	p.DurationVar(&a.lockTimeout, "lock-timeout", config.DefaultLockTimeout, "how long to wait for another process's lock on the embedded store")
	p.DurationVar(&a.timeout, "timeout", defaultTimeout, "give up on the store after this `duration` (from opening it; 0: never)")

	root.AddCommand(
		a.newPutCommand(), a.newGetCommand(), a.newHistoryCommand(), a.newRollbackCommand(),
		a.newDeleteCommand(), a.newUndeleteCommand(), a.newListCommand(), a.newStatusCommand(),
		a.newSetupCommand(), a.newVersionCommand(), a.newUpgradeCommand(), a.newRotateCommand(),
		a.newExecCommand(), a.newEnvCommand(), a.newRenderCommand(),
		a.newExportCommand(), a.newImportCommand(), a.newDiffCommand(), a.newCpCommand(),
		a.newPolicyCommand(),
	)
	a.completeNames(root) // after every AddCommand: it reads the commands' Use lines
	root.SetHelpCommand(newHelpCommand())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	scrubTree(root)
	return root
}

// newHelpCommand replaces cobra's help command, which prints the root help
// and exits 0 for an unknown topic, and repeats the topic.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			target, rest, err := root.Find(args)
			if err != nil || target == nil || len(rest) > 0 || (target == root && len(args) > 0) {
				word := ""
				if len(args) > 0 {
					word = args[len(args)-1]
				}
				if s := suggest(root, word); s != "" {
					return usagef("no help topic %s; did you mean `cchain help %s`?", notShown, s)
				}
				return usagef("no help topic %s; the commands are %s", notShown, commandList(root))
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

// runLegacySave saves secret as the Python tool's -s did.
func runLegacySave(ctx context.Context, st *cloudchain.Store, w io.Writer, service, user string, secret []byte) error {
	v, err := st.Put(ctx, service, user, secret)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "Secret saved!"); err != nil {
		return savedButNotShown(service, user, v, err)
	}
	return nil
}

// runLegacyRead prints a secret as the Python tool's -r did.
func runLegacyRead(ctx context.Context, st *cloudchain.Store, w io.Writer, service, user string, noNewline bool) error {
	sec, err := st.Get(ctx, service, user)
	if err != nil {
		return err
	}
	defer cloudchain.Zero(sec.Value)
	return printSecret(w, sec.Value, noNewline)
}

// savedButNotShown is the error of a write that landed but whose
// confirmation could not be printed.
func savedButNotShown(service, user string, v int64, err error) error {
	return &outputError{fmt.Errorf("%w (the secret was saved as %s/%s version %d, but the confirmation could not be printed)", err, service, user, v)}
}
