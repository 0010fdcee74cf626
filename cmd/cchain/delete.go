package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// deleteOptions are the settings of one delete.
type deleteOptions struct {
	service string
	// user is the secret to delete; "" deletes every secret of service.
	user    string
	purge   bool
	comment string
}

func (a *app) newDeleteCommand() *cobra.Command {
	var (
		o   deleteOptions
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "delete SERVICE [USER]",
		Short: "Delete a secret (or a whole service), keeping its history",
		Long: `Delete a secret by writing a deletion marker as a new version: reads then report
it as deleted, its history is kept, and undelete or rollback restores it. Without
USER, every secret of SERVICE is deleted.

Deleting a whole service, and --purge, ask for confirmation on a terminal;
elsewhere they need --yes. --purge removes the secret (or service) and its whole
history for good.`,
		Example: `  cchain delete db alice
  cchain delete db --yes                 # every secret of db
  cchain delete db alice --purge --yes   # gone for good`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service = args[0]
			if len(args) == 2 {
				o.user = args[1]
				if err := cloudchain.ValidateID(o.service, o.user); err != nil {
					return err
				}
			} else if err := cloudchain.ValidateService(o.service); err != nil {
				return err
			}
			if !yes && (o.purge || o.user == "") {
				if err := a.confirm(cmd.Context(), deleteQuestion(o), map[bool]string{true: "purge", false: "delete a whole service"}[o.purge]); err != nil {
					return err
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runDelete(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&o.purge, "purge", false, "remove the secret and its whole history for good")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment stored with the deletion")
	return cmd
}

// what names what a delete acts on, for messages.
func (o deleteOptions) what() string {
	if o.user == "" {
		return "every secret of service " + o.service
	}
	return o.service + "/" + o.user
}

func deleteQuestion(o deleteOptions) string {
	if o.purge {
		return fmt.Sprintf("Purge %s and all its history? This cannot be undone.", o.what())
	}
	return fmt.Sprintf("Delete %s?", o.what())
}

// runDelete soft-deletes or purges a secret or a whole service.
func runDelete(ctx context.Context, st *cloudchain.Store, w io.Writer, o deleteOptions) error {
	if o.user != "" {
		if o.purge {
			if err := st.Purge(ctx, o.service, o.user); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "Purged %s\n", o.what())
			return err
		}
		v, err := st.Delete(ctx, o.service, o.user, commentOption(o.comment)...)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "Deleted %s (version %d); `cchain undelete %s %s` restores it\n", o.what(), v, o.service, o.user)
		return err
	}
	var (
		n   int
		err error
	)
	if o.purge {
		n, err = st.PurgeService(ctx, o.service)
	} else {
		n, err = st.DeleteService(ctx, o.service, commentOption(o.comment)...)
	}
	if err != nil {
		return err
	}
	if n == 0 && !o.purge {
		entries, lerr := st.List(ctx, o.service)
		if lerr == nil && len(entries) == 0 {
			return fmt.Errorf("%w: service %s has no secrets", cloudchain.ErrNotFound, o.service)
		}
	}
	if n == 0 && o.purge {
		return fmt.Errorf("%w: service %s has no secrets", cloudchain.ErrNotFound, o.service)
	}
	verb := "Deleted"
	if o.purge {
		verb = "Purged"
	}
	_, err = fmt.Fprintf(w, "%s %d secrets of service %s\n", verb, n, o.service)
	return err
}
