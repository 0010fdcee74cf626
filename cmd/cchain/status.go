package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain/config"
)

// statusJSON is the JSON form of `cchain status`.
type statusJSON struct {
	ConfigFile   string `json:"config_file"`
	ConfigSource string `json:"config_source"`
	Backend      string `json:"backend"`
	DataDir      string `json:"data_dir,omitempty"`
	Table        string `json:"table,omitempty"`
	Region       string `json:"region,omitempty"`
	Profile      string `json:"profile,omitempty"`
	KMSKey       string `json:"kms_key,omitempty"`
	KMSRegion    string `json:"kms_region,omitempty"`
	DynamoURL    string `json:"endpoint_url,omitempty"`
	KMSURL       string `json:"kms_endpoint_url,omitempty"`
	*config.Status
}

func (a *app) newStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which store cchain uses and whether it is reachable",
		Long: `Show the config file in use and where that choice came from (--config,
$CLOUDCHAIN_CONFIG, ~/.cchainrc, or none), the backend, where secrets are kept
(data directory, or DynamoDB table and region), the key, the endpoints, and
whether the store can be reached. It reads only and creates nothing. The exit
code is 0 when the store is reachable, 1 otherwise.`,
		Example: `  cchain status
  cchain status --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), cfg, a.stdout, a.configSource(cfg), a.asJSON)
		},
	}
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print as JSON")
	return cmd
}

// configSource says why cfg.File was read.
func (a *app) configSource(cfg *config.Config) string {
	switch {
	case cfg.File == "":
		return "none"
	case a.over.ConfigFile != "":
		return "--config"
	}
	if v, _ := a.env.lookup("CLOUDCHAIN_CONFIG"); v != "" {
		return "$CLOUDCHAIN_CONFIG"
	}
	return "~/.cchainrc"
}

// errUnreachable is the result of a status whose store cannot be reached;
// the checks printed say why.
type errUnreachable struct{ store string }

func (e *errUnreachable) Error() string { return "cannot reach the " + e.store }

// runStatus prints the configuration in use and checks the store.
func runStatus(ctx context.Context, cfg *config.Config, w io.Writer, source string, asJSON bool) error {
	st := cfg.Status(ctx)
	out := statusJSON{ConfigFile: cfg.File, ConfigSource: source, Backend: cfg.Backend, Status: st}
	if cfg.Backend == config.BackendLocal {
		out.DataDir = cfg.DataDir
	} else {
		out.Table, out.Region, out.Profile = cfg.Table, cfg.Region, cfg.Profile
		out.KMSKey, out.KMSRegion = cfg.KMSKey, cfg.KMSRegion
		out.DynamoURL, out.KMSURL = cfg.DynamoEndpoint, cfg.KMSEndpoint
	}
	if asJSON {
		if err := printJSON(w, out); err != nil {
			return err
		}
	} else {
		t := newTable(w, "SETTING", "VALUE")
		file := orDash(out.ConfigFile)
		t.row("config file", file+" (from "+source+")")
		t.row("backend", out.Backend)
		t.row("store", st.Store)
		for _, kv := range [][2]string{
			{"data directory", out.DataDir}, {"table", out.Table}, {"region", out.Region}, {"profile", out.Profile},
			{"kms key", out.KMSKey}, {"kms region", out.KMSRegion}, {"endpoint url", out.DynamoURL}, {"kms endpoint url", out.KMSURL},
		} {
			if kv[1] != "" {
				t.row(kv[0], kv[1])
			}
		}
		for _, c := range st.Checks {
			mark := "ok"
			if !c.OK {
				mark = "FAILED"
			}
			t.row("check "+c.Name, fmt.Sprintf("%s: %s", mark, c.Detail))
		}
		reach := "yes"
		if !st.Reachable {
			reach = "no"
		}
		t.row("reachable", reach)
		if err := t.flush(); err != nil {
			return err
		}
	}
	if !st.Reachable {
		return &errUnreachable{store: st.Store}
	}
	return nil
}
