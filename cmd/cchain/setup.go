package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain/config"
)

func (a *app) newSetupCommand() *cobra.Command {
	var o config.SetupOptions
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the store: the DynamoDB table (and KMS key), or the embedded store",
		Long: `Create what the configured store needs. It is safe to run again.

DynamoDB: creates the table with the Python tool's key schema (Service, Username)
and on-demand billing, waits until it is active, and enables point-in-time
recovery where the server supports it. A table with another key schema is
reported and never changed. --create-key also creates the KMS key named by
[IAMKMS] keyalias (or --kms-key) if that alias does not exist yet.

Embedded: creates the data directory (0700), the master key (0600) and the store.`,
		Example: `  cchain setup
  cchain setup --create-key --kms-key alias/cloudchain`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			return runSetup(cmd.Context(), cfg, a.stdout, o)
		},
	}
	cmd.Flags().BoolVar(&o.CreateKey, "create-key", false, "create the KMS key and alias if missing")
	return cmd
}

// runSetup creates the store the configuration describes, and prints what
// it did.
func runSetup(ctx context.Context, cfg *config.Config, w io.Writer, o config.SetupOptions) error {
	lines, err := cfg.Setup(ctx, o)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return err
}
