package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// rollbackOptions are the settings of one rollback.
type rollbackOptions struct {
	service, user string
	version       int64
	comment       string
}

func (a *app) newRollbackCommand() *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback SERVICE USER VERSION",
		Short: "Save the content of an earlier version as a new version",
		Long: `Save the content of VERSION as a new version. History is never rewritten: the
versions in between stay readable with get --version.`,
		Example: `  cchain rollback db alice 3`,
		Args:    exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseVersion(args[2])
			if err != nil {
				return err
			}
			o.service, o.user, o.version = args[0], args[1], n
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runRollback(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment stored with the new version")
	return cmd
}

// runRollback saves the content of an earlier version as a new version.
func runRollback(ctx context.Context, st *cloudchain.Store, w io.Writer, o rollbackOptions) error {
	v, err := st.Rollback(ctx, o.service, o.user, o.version, commentOption(o.comment)...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Rolled back %s/%s to the content of version %d as version %d\n", o.service, o.user, o.version, v)
	return err
}
