package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// putOptions are the settings of one put.
type putOptions struct {
	service, user string
	// ifVersion is the expected current version, when hasIfVersion.
	ifVersion    int64
	hasIfVersion bool
	comment      string
	asJSON       bool
	// notices, if set, receives what the store said about the write, and
	// prints it after the confirmation line.
	notices *notices
}

func (a *app) newPutCommand() *cobra.Command {
	var (
		o          putOptions
		ifVersion  string
		allowEmpty bool
		quiet      bool
	)
	cmd := &cobra.Command{
		Use:   "put SERVICE USER [VALUE|-]",
		Short: "Save a secret as a new version",
		Long: `Save a secret as a new version. With no VALUE, or with -, the secret is read
from stdin byte for byte (binary is fine, nothing is trimmed); on a terminal it is
prompted for twice without echo. An empty stdin is refused unless --allow-empty
is given, so that a failed producer in a pipe cannot blank a secret. A VALUE on
the command line is visible to other users in ps and lands in shell history:
prefer stdin or the prompt (cchain warns unless --quiet).`,
		Example: `  cchain put db alice                        # prompt
  printf %s "$PASSWORD" | cchain put db alice -
  cchain put db alice - < key.pem --comment "new cert"
  cchain put db alice - --if-version 3 < new.txt   # only if still at version 3
  cchain put db alice - --if-version 0 < new.txt   # only if it does not exist
  cchain put db alice - --allow-empty < /dev/null  # an empty secret, on purpose`,
		Args: rangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service, o.user = args[0], args[1]
			if cmd.Flags().Changed("if-version") {
				n, err := parseVersion(ifVersion)
				if err != nil {
					return err
				}
				o.ifVersion, o.hasIfVersion = n, true
			}
			if err := cloudchain.ValidateID(o.service, o.user); err != nil {
				return err
			}
			src := secretSource{value: "-", allowEmpty: allowEmpty}
			if len(args) == 3 {
				src.value, src.fromArg = args[2], true
				if args[2] != "-" && !quiet {
					fmt.Fprintln(a.env.stderr, "cchain: warning: a secret given as an argument is visible in ps and kept in shell history; give - (stdin) or nothing (a prompt) instead")
				}
			}
			secret, err := a.readSecret(cmd.Context(), src)
			if err != nil {
				return err
			}
			defer cloudchain.Zero(secret)
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			o.asJSON = a.asJSON
			o.notices = a.notices
			return runPut(cmd.Context(), st, a.stdout, o, secret)
		},
	}
	cmd.Flags().StringVar(&ifVersion, "if-version", "", "save only if the current version is `N` (0: only if the secret does not exist)")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment stored with the version")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the new version as JSON")
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "accept an empty stdin as an empty secret")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no warning about a secret given as an argument")
	return cmd
}

// runPut saves secret as the new version of (service, user) and prints the
// confirmation.
func runPut(ctx context.Context, st *cloudchain.Store, w io.Writer, o putOptions, secret []byte) error {
	opts := commentOption(o.comment)
	if o.hasIfVersion {
		opts = append(opts, cloudchain.IfVersion(o.ifVersion))
	}
	v, err := st.Put(ctx, o.service, o.user, secret, opts...)
	if err != nil {
		return err
	}
	if o.asJSON {
		err = printJSON(w, map[string]any{"service": o.service, "user": o.user, "version": v})
	} else {
		_, err = fmt.Fprintf(w, "Secret saved! %s/%s version %d\n", o.service, o.user, v)
	}
	if err != nil {
		return savedButNotShown(o.service, o.user, v, err)
	}
	switch {
	case o.notices == nil:
	case o.asJSON:
		o.notices.flushWarnings()
	default:
		o.notices.flush(w)
	}
	return nil
}
