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
		Use:   "undelete SERVICE [USER]",
		Short: "Restore a deleted secret, or every deleted secret of a service",
		Long: `Restore a deleted secret: the last version before its deletion becomes a new
version. A secret that is not deleted is left alone (exit code 5). Without USER,
every secret of SERVICE whose current version is a deletion marker is restored,
as after ` + "`cchain delete SERVICE`" + `.`,
		Example: `  cchain undelete db alice
  cchain undelete db            # every deleted secret of db`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service = args[0]
			if len(args) == 2 {
				o.user = args[1]
			}
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

// runUndelete restores a deleted secret, or every one of a service.
func runUndelete(ctx context.Context, st *cloudchain.Store, w io.Writer, o undeleteOptions) error {
	if o.user == "" {
		n, err := st.UndeleteService(ctx, o.service, commentOption(o.comment)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: service %s has no deleted secret to restore", cloudchain.ErrNotFound, o.service)
		}
		_, err = fmt.Fprintf(w, "Restored %d secrets of service %s\n", n, o.service)
		return err
	}
	v, err := st.Undelete(ctx, o.service, o.user, commentOption(o.comment)...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Restored %s/%s as version %d\n", o.service, o.user, v)
	return err
}
