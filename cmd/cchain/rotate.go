package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// rotateOptions are the settings of one rotate.
type rotateOptions struct {
	services []string
}

func (a *app) newRotateCommand() *cobra.Command {
	var o rotateOptions
	cmd := &cobra.Command{
		Use:   "rotate SERVICE...",
		Short: "Make a new version of each service's key, under the configured KMS or master key",
		Long: `Make a new version of the service key of each SERVICE, wrapped by the key
configured now (the KMS key of [IAMKMS] keyalias, or the local master key). New
secrets are sealed under it; secrets saved earlier stay readable under their
older versions, which are kept. After moving to a new KMS key, list the old key in
decrypt_keys and rotate every service: from then on new secrets depend on the
new key only.`,
		Example: `  cchain rotate db
  cchain rotate db api web`,
		Args: rangeArgs(1, 1<<16),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services = args
			for _, s := range args {
				if err := cloudchain.ValidateService(s); err != nil {
					return err
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runRotate(cmd.Context(), st, a.stdout, o)
		},
	}
	return cmd
}

// runRotate makes a new service key version for each service.
func runRotate(ctx context.Context, st *cloudchain.Store, w io.Writer, o rotateOptions) error {
	for _, svc := range o.services {
		v, err := st.RotateServiceKey(ctx, svc)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s: service key version %d\n", safeInline(svc), v); err != nil {
			return err
		}
	}
	return nil
}
