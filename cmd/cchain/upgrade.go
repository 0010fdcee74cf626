package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// upgradeOptions are the settings of one upgrade.
type upgradeOptions struct {
	services []string
	asJSON   bool
	// resetManifest makes the rollback manifests of the services again
	// from the table (ResetManifest) instead of upgrading.
	resetManifest bool
}

func (a *app) newUpgradeCommand() *cobra.Command {
	var (
		o   upgradeOptions
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "upgrade [SERVICE...]",
		Short: "Re-save legacy and older records in the current format, and seal the services",
		Long: `Re-save, as a new version in the current format, every secret of the services
whose current version is in the Python tool's legacy format or in the format of an
earlier cchain release. Values do not change. Then seal each service: from then on
a legacy record found in it is refused as tampering (exit 6), so that nobody can
copy a legacy blob from another row over one of its secrets.

Run it once no Python client writes to the services any more. Without SERVICE,
every service is upgraded. It is safe to run again. Legacy versions kept in
history can no longer be read afterwards; roll back to one first if you need it.

With --reset-manifest, make the rollback manifest of each SERVICE again from what
the table holds now, for when it was removed or damaged (every read and write of
the service then refuses with exit 6). This trusts the table as it is: a secret
rolled back before the reset is accepted, so check the service's secrets first
(cchain history), or restore the manifest item from a backup instead. It asks
for confirmation on a terminal; elsewhere it needs --yes.`,
		Example: `  cchain upgrade db
  cchain upgrade            # every service
  cchain upgrade db --reset-manifest --yes`,
		Args: rangeArgs(0, 1<<16),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services, o.asJSON = args, a.asJSON
			for _, s := range args {
				if err := cloudchain.ValidateService(s); err != nil {
					return err
				}
			}
			if o.resetManifest {
				if len(args) == 0 {
					return usagef("name the services whose rollback manifest to make again")
				}
				if !yes {
					if err := a.confirm(cmd.Context(), fmt.Sprintf("Make the rollback manifest of %d service(s) again from the table as it is now?", len(args)), "reset a rollback manifest"); err != nil {
						return err
					}
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			if o.resetManifest {
				return runResetManifest(cmd.Context(), st, a.stdout, o)
			}
			return runUpgrade(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.resetManifest, "reset-manifest", false, "make the services' rollback manifests again from the table (see above)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// runUpgrade upgrades the services (every service when none is given).
func runUpgrade(ctx context.Context, st *cloudchain.Store, w io.Writer, o upgradeOptions) error {
	services := o.services
	if len(services) == 0 {
		var err error
		if services, err = st.Services(ctx); err != nil {
			return err
		}
	}
	var reports []*cloudchain.UpgradeReport
	for _, svc := range services {
		rep, err := st.Upgrade(ctx, svc)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
		if !o.asJSON {
			if _, err := fmt.Fprintf(w, "%s: re-saved %d secrets; sealed (legacy records are refused from now on)\n", safeInline(svc), rep.Resaved); err != nil {
				return err
			}
		}
	}
	if o.asJSON {
		if reports == nil {
			reports = []*cloudchain.UpgradeReport{}
		}
		return printJSON(w, map[string]any{"services": reports})
	}
	return nil
}

// runResetManifest makes the rollback manifest of each named service again.
func runResetManifest(ctx context.Context, st *cloudchain.Store, w io.Writer, o upgradeOptions) error {
	for _, svc := range o.services {
		n, err := st.ResetManifest(ctx, svc)
		if err != nil {
			return fmt.Errorf("resetting the rollback manifest of %s: %w", svc, err)
		}
		if _, err := fmt.Fprintf(w, "%s: rollback manifest made again, listing %d secrets\n", safeInline(svc), n); err != nil {
			return err
		}
	}
	return nil
}
