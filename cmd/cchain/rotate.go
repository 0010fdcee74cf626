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
	// to, when set, is the new KMS key the service keys move to.
	to     cloudchain.Encrypter
	toName string
}

func (a *app) newRotateCommand() *cobra.Command {
	var (
		o     rotateOptions
		toKey string
	)
	cmd := &cobra.Command{
		Use:   "rotate [SERVICE...]",
		Short: "Make new service keys, or move service keys to a new KMS key",
		Long: `Without --to-kms-key: make a new version of the service key of each SERVICE,
wrapped by the key configured now (the KMS key of [IAMKMS] keyalias, or the local
master key). New secrets are sealed under it; secrets saved earlier stay readable
under their older versions, which are kept.

With --to-kms-key KEY: wrap every version of each service's key again under the
KMS key KEY, in one conditional write per service; no secret is re-encrypted. Run
it with the config still naming the old key, then name KEY in [IAMKMS] keyalias:
from then on no decrypt_keys entry is needed for these services. Records of the
Python tool or of releases before service keys still name their own key: run
cchain upgrade first. Without SERVICE, every service is moved. It is safe to run
again, and to run again after an interruption.`,
		Example: `  cchain rotate db                         # a new service key version for db
  cchain rotate --to-kms-key alias/new     # every service's keys, under the new KMS key`,
		Args: rangeArgs(0, 1<<16),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services = args
			for _, s := range args {
				if err := cloudchain.ValidateService(s); err != nil {
					return err
				}
			}
			if toKey == "" && len(args) == 0 {
				return usagef("name the services to give a new service key, or give --to-kms-key KEY to move every service to a new KMS key")
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			if toKey != "" {
				cfg, err := a.config(cmd)
				if err != nil {
					return err
				}
				if o.to, err = cfg.NewKMSKey(cmd.Context(), toKey); err != nil {
					return err
				}
				o.toName = toKey
			}
			return runRotate(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().StringVar(&toKey, "to-kms-key", "", "move the service keys to this KMS `key` (alias, key id or ARN)")
	return cmd
}

// runRotate makes a new service key version for each service, or moves
// their keys to o.to.
func runRotate(ctx context.Context, st *cloudchain.Store, w io.Writer, o rotateOptions) error {
	services := o.services
	if len(services) == 0 {
		var err error
		if services, err = st.Services(ctx); err != nil {
			return err
		}
	}
	for _, svc := range services {
		if o.to != nil {
			n, err := st.RewrapServiceKeys(ctx, svc, o.to)
			if err != nil {
				return fmt.Errorf("moving %s to %s (services before it in the list are done; run it again to finish): %w", svc, o.toName, err)
			}
			if _, err := fmt.Fprintf(w, "%s: %d service key versions now under %s\n", safeInline(svc), n, safeInline(o.toName)); err != nil {
				return err
			}
			continue
		}
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
