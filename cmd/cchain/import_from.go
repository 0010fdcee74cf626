package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/internal/migrate"
)

// The stores `cchain import --from` reads.
const (
	fromCredstash      = "credstash"
	fromSSM            = "ssm"
	fromSecretsManager = "secretsmanager"
)

// importFromOptions are the flags of `cchain import --from`.
type importFromOptions struct {
	from        string
	table       string
	contexts    []string
	split       string
	allVersions bool
	path        string
	filter      string
	region      string
	endpoint    string
	kmsEndpoint string

	// Shared with the file import: --service and --dry-run.
	service *string
	dryRun  *bool
}

const importFromLong = `

With --from, import reads another secret store instead of FILE:

  --from credstash       a credstash table (--source-table, default
                         credential-store), read with Scan and one KMS Decrypt
                         per item, with the encryption context of --context
                         KEY=VALUE (repeat it for several pairs). Each item's
                         HMAC is checked before it is decrypted. A name maps to
                         SERVICE/USER at its first "." (--split SEP for
                         another separator), or is the user in --service S.
                         The latest version of each name by default;
                         --all-versions writes every version, oldest first, as
                         successive versions.
  --from ssm --path /P/  every parameter under /P/ (String, SecureString,
                         StringList), decrypted: /P/SERVICE/KEY is
                         SERVICE/KEY (chamber's layout); with --service S,
                         /P/NAME is S/NAME.
  --from secretsmanager  every secret (--filter PREFIX: those whose names start
                         with PREFIX). A JSON object secret NAME is the service
                         NAME with one user per key; any other secret is
                         NAME/value, byte for byte. With --service S, the keys
                         (or, for other secrets, NAME) are users of S.

The source is reached through the standard AWS configuration (AWS_REGION,
AWS_PROFILE, AWS_ENDPOINT_URL_*), with --source-region and
--source-endpoint-url (and --source-kms-endpoint-url for credstash's KMS)
to override it; a credstash table is looked for at the DynamoDB and KMS
endpoints of the configuration when none is given. An item that fails
verification, decryption or naming is reported by name and never written,
and the import then exits 1 after writing the others.`

// addImportFrom adds --from and its flags to the import command: with --from,
// the command reads another store instead of FILE.
func (a *app) addImportFrom(cmd *cobra.Command, service *string, dryRun *bool) {
	o := &importFromOptions{service: service, dryRun: dryRun}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "import from another store: credstash, ssm or secretsmanager (instead of FILE)")
	f.StringVar(&o.table, "source-table", migrate.CredstashTable, "with --from credstash: the credstash `table`")
	f.StringArrayVar(&o.contexts, "context", nil, "with --from credstash: a KMS encryption context pair `KEY=VALUE` (repeatable)")
	f.StringVar(&o.split, "split", "", "with --from credstash: split names into SERVICE and USER at the first `SEP` (default \".\")")
	f.BoolVar(&o.allVersions, "all-versions", false, "with --from credstash: write every version, oldest first")
	f.StringVar(&o.path, "path", "", "with --from ssm: the parameter `path` to import, such as /app/")
	f.StringVar(&o.filter, "filter", "", "with --from secretsmanager: import the secrets whose names start with `PREFIX`")
	f.StringVar(&o.region, "source-region", "", "with --from: the source's AWS `region` (default: cchain's, then AWS_REGION)")
	f.StringVar(&o.endpoint, "source-endpoint-url", "", "with --from: the source's endpoint `URL`")
	f.StringVar(&o.kmsEndpoint, "source-kms-endpoint-url", "", "with --from credstash: the KMS endpoint `URL` (default --source-endpoint-url)")
	_ = cmd.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]cobra.Completion{fromCredstash, fromSSM, fromSecretsManager}, cobra.ShellCompDirectiveNoFileComp))
	cmd.Long += importFromLong
	cmd.Example += `
  cchain import --from credstash --context env=prod --dry-run
  cchain import --from credstash --service legacy --all-versions
  cchain import --from ssm --path /prod/
  cchain import --from secretsmanager --filter prod/`

	args, runE := cmd.Args, cmd.RunE
	cmd.Args = func(cmd *cobra.Command, a []string) error {
		if o.from == "" {
			return args(cmd, a)
		}
		if len(a) > 0 {
			return usagef("--from reads another store: give no FILE")
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.from == "" {
			for _, name := range []string{"source-table", "context", "split", "all-versions", "path", "filter", "source-region", "source-endpoint-url", "source-kms-endpoint-url"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s needs --from", name)
				}
			}
			return runE(cmd, args)
		}
		return a.importFrom(cmd, o)
	}
}

// importFrom checks the flags of one --from, reads the source whole, and
// writes what it read.
func (a *app) importFrom(cmd *cobra.Command, o *importFromOptions) error {
	flags := cmd.Flags()
	only := map[string][]string{
		fromCredstash:      {"source-table", "context", "split", "all-versions", "source-kms-endpoint-url"},
		fromSSM:            {"path"},
		fromSecretsManager: {"filter"},
	}
	if _, ok := only[o.from]; !ok {
		return usagef("--from %s: the stores are credstash, ssm and secretsmanager", safeInline(o.from))
	}
	for src, names := range only {
		for _, name := range names {
			if src != o.from && flags.Changed(name) {
				return usagef("--%s applies to --from %s only", name, src)
			}
		}
	}
	if flags.Changed("format") {
		return usagef("--format applies to FILE; --from reads its own format")
	}
	if *o.service != "" {
		if err := cloudchain.ValidateService(*o.service); err != nil {
			return err
		}
		if flags.Changed("split") {
			return usagef("give --service or --split, not both")
		}
	}
	if flags.Changed("split") && o.split == "" {
		return usagef("--split needs a separator, such as .")
	}
	encCtx, err := parseContext(o.contexts)
	if err != nil {
		return err
	}
	if o.from == fromSSM && o.path == "" {
		return usagef("--from ssm needs --path /PREFIX/ (/ for every parameter)")
	}
	if o.from == fromSSM && !strings.HasPrefix(o.path, "/") {
		return usagef("--path must start with /")
	}

	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	awsCfg, err := sourceConfig(ctx, cfg, o)
	if err != nil {
		return err
	}
	var res *migrate.Result
	switch o.from {
	case fromCredstash:
		mapper := migrate.SplitAt(".")
		switch {
		case *o.service != "":
			mapper = migrate.IntoService(*o.service)
		case o.split != "":
			mapper = migrate.SplitAt(o.split)
		}
		ddbEndpoint, kmsEndpoint := o.endpoint, o.kmsEndpoint
		if kmsEndpoint == "" {
			kmsEndpoint = o.endpoint
		}
		if o.endpoint == "" && o.kmsEndpoint == "" && cfg.Backend == config.BackendDynamoDB {
			ddbEndpoint, kmsEndpoint = cfg.DynamoEndpoint, cfg.KMSEndpoint
		}
		db := dynamodb.NewFromConfig(awsCfg, func(opt *dynamodb.Options) {
			if ddbEndpoint != "" {
				opt.BaseEndpoint = aws.String(ddbEndpoint)
			}
		})
		keys := kms.NewFromConfig(awsCfg, func(opt *kms.Options) {
			if kmsEndpoint != "" {
				opt.BaseEndpoint = aws.String(kmsEndpoint)
			}
		})
		res, err = migrate.ReadCredstash(ctx, db, keys, migrate.CredstashOptions{
			Table: o.table, Context: encCtx, AllVersions: o.allVersions, Map: mapper,
		})
	case fromSSM:
		client := ssm.NewFromConfig(awsCfg, func(opt *ssm.Options) {
			if o.endpoint != "" {
				opt.BaseEndpoint = aws.String(o.endpoint)
			}
		})
		res, err = migrate.ReadSSM(ctx, client, migrate.SSMOptions{Path: o.path, Service: *o.service})
	case fromSecretsManager:
		client := secretsmanager.NewFromConfig(awsCfg, func(opt *secretsmanager.Options) {
			if o.endpoint != "" {
				opt.BaseEndpoint = aws.String(o.endpoint)
			}
		})
		res, err = migrate.ReadSecretsManager(ctx, client, migrate.SecretsManagerOptions{Prefix: o.filter, Service: *o.service})
	}
	if err != nil {
		return fmt.Errorf("reading from %s: %w; nothing was imported", o.from, err)
	}
	defer res.Zero()
	st, err := a.open(cmd)
	if err != nil {
		return err
	}
	var progress io.Writer
	if f, ok := a.env.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		progress = f
	}
	return runImportFrom(ctx, st, a.stdout, importFromRun{
		from: o.from, dryRun: *o.dryRun, asJSON: a.asJSON, progress: progress,
	}, res)
}

// parseContext turns KEY=VALUE pairs into an encryption context (nil for
// none, as credstash sends none).
func parseContext(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--context %s: give KEY=VALUE", safeInline(p))
		}
		if _, dup := m[k]; dup {
			return nil, usagef("--context: the key %s is given twice", safeInline(k))
		}
		m[k] = v
	}
	return m, nil
}

// sourceConfig loads the AWS configuration of the store to import from: the
// SDK's standard chain, with --source-region (else cchain's region) and
// cchain's --profile.
func sourceConfig(ctx context.Context, cfg *config.Config, o *importFromOptions) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	region := o.region
	if region == "" {
		region = cfg.Region
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration of the source: %w", err)
	}
	if c.Region == "" {
		return aws.Config{}, usagef("no AWS region for the source: give --source-region or set AWS_REGION")
	}
	return c, nil
}
