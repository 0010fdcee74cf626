package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// listOptions are the settings of one list.
type listOptions struct {
	// service is the service whose secrets to list; "" lists the services.
	service string
	asJSON  bool
}

func (a *app) newListCommand() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:   "list [SERVICE]",
		Short: "List services, or the secrets of a service",
		Long: `Without SERVICE, list the services. With SERVICE, list its secrets with their
current version and last change; deleted secrets are marked. Values are never
shown. A SERVICE with no secrets is an error (exit code 3), as in history and
delete.`,
		Example: `  cchain list
  cchain list db
  cchain list db --json`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.asJSON = a.asJSON
			if len(args) == 1 {
				o.service = args[0]
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runList(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print as JSON")
	return cmd
}

// runList prints the services, or the secrets of one service.
func runList(ctx context.Context, st *cloudchain.Store, w io.Writer, o listOptions) error {
	if o.service == "" {
		svcs, err := st.Services(ctx)
		if err != nil {
			return err
		}
		if o.asJSON {
			if svcs == nil {
				svcs = []string{}
			}
			return printJSON(w, map[string]any{"services": svcs})
		}
		for _, s := range svcs {
			fmt.Fprintln(w, safe(s))
		}
		return nil
	}
	entries, err := st.List(ctx, o.service)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("%w: service %s has no secrets", cloudchain.ErrNotFound, o.service)
	}
	if o.asJSON {
		return printJSON(w, map[string]any{"service": o.service, "secrets": entries})
	}
	t := newTable(w, "USER", "VERSION", "UPDATED", "AUTHOR", "STATE", "AUTH")
	for _, e := range entries {
		state := "ok"
		if e.Deleted {
			state = "deleted"
		}
		t.row(e.User, strconv.FormatInt(e.Version, 10), humanTime(e.Created), orDash(e.Author), state, orDash(string(e.Auth)))
	}
	return t.flush()
}
