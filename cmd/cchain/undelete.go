package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// undeleteOptions are the settings of one undelete.
type undeleteOptions struct {
	service, user string
	comment       string
}

func (a *app) newUndeleteCommand() *cobra.Command {
	var o undeleteOptions
	cmd := &cobra.Command{
		Use:   "undelete SERVICE USER",
		Short: "Restore a deleted secret (the last version before its deletion)",
		Long: `Restore a deleted secret: the last version before its deletion becomes a new
version. A secret that is not deleted is left alone (exit code 5).`,
		Example: `  cchain undelete db alice`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service, o.user = args[0], args[1]
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runUndelete(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment stored with the new version")
	return cmd
}

// runUndelete restores a deleted secret.
func runUndelete(ctx context.Context, st *cloudchain.Store, w io.Writer, o undeleteOptions) error {
	v, err := st.Undelete(ctx, o.service, o.user, commentOption(o.comment)...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Restored %s/%s as version %d\n", o.service, o.user, v)
	return err
}
