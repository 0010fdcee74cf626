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
}

func (a *app) newUpgradeCommand() *cobra.Command {
	var o upgradeOptions
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
history can no longer be read afterwards; roll back to one first if you need it.`,
		Example: `  cchain upgrade db
  cchain upgrade            # every service`,
		Args: rangeArgs(0, 1<<16),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services, o.asJSON = args, a.asJSON
			for _, s := range args {
				if err := cloudchain.ValidateService(s); err != nil {
					return err
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runUpgrade(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the report as JSON")
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
