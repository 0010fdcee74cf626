// Command bulkread reads every current secret of the services named on its
// command line, through the same configuration as cchain (config.Load and
// Config.Open) and Store.GetServices, and writes NAME=VALUE lines to stdout.
// scripts/bench uses it for the bulk-read rows while cchain has no command
// that reads a whole service.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bulkread:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, services []string) error {
	cfg, err := config.Load(os.LookupEnv, config.Overrides{})
	if err != nil {
		return err
	}
	st, err := cfg.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	secrets, err := st.GetServices(ctx, services...)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, s := range secrets {
		fmt.Fprintf(w, "%s=%s\n", s.User, s.Value)
		cloudchain.Zero(s.Value)
	}
	return w.Flush()
}
