package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// cpOptions are the settings of one cp.
type cpOptions struct {
	src, dst string
	// users to copy; none means every live secret of src.
	users  []string
	dryRun bool
	asJSON bool
}

func (a *app) newCpCommand() *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use:   "cp SRC_SERVICE DST_SERVICE [USER...]",
		Short: "Copy the current secrets of one service into another",
		Long: `Copy the current value of every live secret of SRC_SERVICE (or of the given
users) into DST_SERVICE, as new versions there: to promote staging to
production, say. Like import it is idempotent (a value that is already current
in DST_SERVICE writes nothing), checks everything before the first write,
reports created / updated / unchanged per secret, stops on a failure with the
exact list of what was copied, and --dry-run writes nothing. Secrets of
DST_SERVICE that are not in SRC_SERVICE are left alone (see cchain diff).`,
		Example: `  cchain cp staging production --dry-run
  cchain cp staging production
  cchain cp staging production db_password api_key`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.src, o.dst, o.users, o.asJSON = args[0], args[1], args[2:], a.asJSON
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return a.whereNotFound(runCp(cmd.Context(), st, a.stdout, o))
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "report what would change and write nothing")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the report as JSON")
	return cmd
}

// runCp copies the current secrets of o.src (or o.users of it) into o.dst
// with one PutMany.
func runCp(ctx context.Context, st *cloudchain.Store, w io.Writer, o cpOptions) error {
	if o.src == o.dst {
		return usagef("the source and destination services are the same")
	}
	if err := cloudchain.ValidateService(o.dst); err != nil {
		return err
	}
	secrets, err := st.GetServices(ctx, o.src)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range secrets {
			cloudchain.Zero(s.Value)
		}
	}()
	if len(secrets) == 0 {
		return fmt.Errorf("%w: service %s has no secrets; nothing was copied", cloudchain.ErrNotFound, o.src)
	}
	byUser := make(map[string]*cloudchain.Secret, len(secrets))
	for _, s := range secrets {
		byUser[s.User] = s
	}
	var values []cloudchain.SecretValue
	if len(o.users) == 0 {
		for _, s := range secrets {
			values = append(values, cloudchain.SecretValue{User: s.User, Value: s.Value})
		}
	} else {
		var missing []string
		seen := map[string]bool{}
		for _, u := range o.users {
			if seen[u] {
				continue
			}
			seen[u] = true
			s, ok := byUser[u]
			if !ok {
				missing = append(missing, safeInline(u))
				continue
			}
			values = append(values, cloudchain.SecretValue{User: s.User, Value: s.Value})
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: %s has no live secret %s; nothing was copied", cloudchain.ErrNotFound, o.src, strings.Join(missing, ", "))
		}
	}
	var opts []cloudchain.PutOption
	if o.dryRun {
		opts = append(opts, cloudchain.DryRun())
	}
	res, err := st.PutMany(ctx, o.dst, values, opts...)
	if err != nil {
		if res == nil {
			return fmt.Errorf("nothing was copied: %w", err)
		}
		perr := printWriteResults(w, res, o.dryRun, o.asJSON)
		return &partialError{err: err, done: res, dryRun: o.dryRun, verb: "copy", printErr: perr}
	}
	return printWriteResults(w, res, o.dryRun, o.asJSON)
}
