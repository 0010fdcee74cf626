package main

import (
	"context"
	"encoding/base64"
	"io"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// getOptions are the settings of one get.
type getOptions struct {
	service, user string
	// version is the version to read; 0 reads the current one.
	version   int64
	noNewline bool
	asJSON    bool
}

// secretJSON is the stable JSON form of a secret (see the README).
type secretJSON struct {
	Service string `json:"service"`
	User    string `json:"user"`
	cloudchain.VersionInfo
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

func (a *app) newGetCommand() *cobra.Command {
	var (
		o   getOptions
		ver string
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
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service, o.user, o.asJSON = args[0], args[1], a.asJSON
			if cmd.Flags().Changed("version") {
				n, err := parseVersion(ver)
				if err != nil {
					return err
				}
				if n == 0 {
					return usagef("--version must be 1 or more")
				}
				o.version = n
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return a.whereNotFound(runGet(cmd.Context(), st, a.stdout, o))
		},
	}
	cmd.Flags().StringVar(&ver, "version", "", "print version `N` instead of the current one")
	cmd.Flags().BoolVarP(&o.noNewline, "no-newline", "n", false, "print without a trailing newline")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the secret and its metadata as JSON")
	return cmd
}

// runGet prints a secret, or one version of it.
func runGet(ctx context.Context, st *cloudchain.Store, w io.Writer, o getOptions) error {
	var (
		sec *cloudchain.Secret
		err error
	)
	if o.version > 0 {
		sec, err = st.GetVersion(ctx, o.service, o.user, o.version)
	} else {
		sec, err = st.Get(ctx, o.service, o.user)
	}
	if err != nil {
		return err
	}
	defer cloudchain.Zero(sec.Value)
	if !o.asJSON {
		return printSecret(w, sec.Value, o.noNewline)
	}
	out := secretJSON{Service: sec.Service, User: sec.User, VersionInfo: sec.VersionInfo}
	if utf8.Valid(sec.Value) {
		s := string(sec.Value)
		out.Value = &s
	} else {
		s := base64.StdEncoding.EncodeToString(sec.Value)
		out.ValueBase64 = &s
	}
	return printJSON(w, out)
}
