package main

import (
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// historyOptions are the settings of one history.
type historyOptions struct {
	service, user string
	asJSON        bool
}

func (a *app) newHistoryCommand() *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history SERVICE USER",
		Short: "List the kept versions of a secret, newest first (never the values)",
		Long: `List the kept versions of a secret, newest first, with who made each and when.
Every version is authenticated first: AUTH says "verified" (the record and its
metadata are exactly what its writer wrote), "unverified" (a legacy record or an
older deletion marker, which carry nothing to check: what the table says) or
"failed" (altered or moved: do not trust that row). Text stored with a version
(author, comment, key) is shown quoted with Go escapes when it holds control or
invisible characters.`,
		Example: `  cchain history db alice
  cchain history db alice --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service, o.user, o.asJSON = args[0], args[1], a.asJSON
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runHistory(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print as JSON")
	return cmd
}

// runHistory prints the kept versions of a secret.
func runHistory(ctx context.Context, st *cloudchain.Store, w io.Writer, o historyOptions) error {
	hist, err := st.History(ctx, o.service, o.user)
	if err != nil {
		return err
	}
	if o.asJSON {
		return printJSON(w, map[string]any{"service": o.service, "user": o.user, "versions": hist})
	}
	t := newTable(w, "VERSION", "CREATED", "AUTHOR", "FORMAT", "KEY", "SIZE", "AUTH", "COMMENT")
	for _, h := range hist {
		size := humanSize(h.Size)
		if h.Deleted {
			size = "deleted"
		}
		t.row(strconv.FormatInt(h.Version, 10), humanTime(h.Created), orDash(h.Author),
			string(h.Format), orDash(h.KeyID), size, orDash(string(h.Auth)), orDash(h.Comment))
	}
	return t.flush()
}
