package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/schollz/progressbar/v3"
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

// importFromRun says how to write and report one import --from.
type importFromRun struct {
	from     string
	dryRun   bool
	asJSON   bool
	progress io.Writer
}

// importedResult is one write (or unchanged secret) of an import --from.
type importedResult struct {
	cloudchain.WriteResult
	Source string `json:"source"`
}

// failedItem is an item that was not imported.
type failedItem struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// importFromFailed is the error of an import that wrote what it could but
// left failed items out.
type importFromFailed struct{ n int }

func (e *importFromFailed) Error() string {
	return fmt.Sprintf("%d items were not imported (listed on stdout as failed); nothing was written for them", e.n)
}

// runImportFrom writes what a reader returned: one PutMany per service (so
// one key-provider call per service), or, when a secret has several versions
// (credstash --all-versions), successive PutMany rounds that write each
// secret's versions oldest first. A secret whose newest value is already the
// current one is left alone, versions and all, so that a second import
// writes nothing. Every written, unchanged and failed secret is reported.
func runImportFrom(ctx context.Context, st *cloudchain.Store, w io.Writer, o importFromRun, res *migrate.Result) error {
	failures := slices.Clone(res.Failures)
	// Chains of versions per secret, oldest first, in order of services.
	type key struct{ service, user string }
	chains := map[key][]migrate.Secret{}
	var services []string
	users := map[string][]string{}
	tooLarge := map[key]bool{}
	for _, s := range res.Secrets {
		k := key{s.Service, s.User}
		if len(s.Value) > cloudchain.MaxSecretSize {
			tooLarge[k] = true
			failures = append(failures, migrate.Failure{Source: s.Source, Err: fmt.Errorf("%w: the secret is %d bytes, the limit is %d", cloudchain.ErrTooLarge, len(s.Value), cloudchain.MaxSecretSize)})
		}
		if _, ok := users[s.Service]; !ok {
			services = append(services, s.Service)
		}
		if _, ok := chains[k]; !ok {
			users[s.Service] = append(users[s.Service], s.User)
		}
		chains[k] = append(chains[k], s)
	}
	for k := range tooLarge {
		for _, s := range chains[k] {
			if len(s.Value) <= cloudchain.MaxSecretSize {
				failures = append(failures, migrate.Failure{Source: s.Source, Err: errors.New("not imported: another version of this secret is too large")})
			}
		}
		delete(chains, k)
	}
	total := 0
	for _, c := range chains {
		total += len(c)
	}
	var bar *progressbar.ProgressBar
	if o.progress != nil && total >= progressMin {
		bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(o.progress),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	var done []importedResult
	stop := func(err error) error {
		if bar != nil {
			bar.Clear()
		}
		var landed []cloudchain.WriteResult
		for _, r := range done {
			landed = append(landed, r.WriteResult)
		}
		perr := printImportFrom(w, o, done, failures)
		return &partialError{err: err, done: landed, dryRun: o.dryRun, verb: "import", printErr: perr}
	}
	var dry []cloudchain.PutOption
	if o.dryRun {
		dry = append(dry, cloudchain.DryRun())
	}
	for _, service := range services {
		var chainsOf [][]migrate.Secret
		for _, u := range users[service] {
			if c, ok := chains[key{service, u}]; ok {
				chainsOf = append(chainsOf, c)
			}
		}
		if len(chainsOf) == 0 {
			continue
		}
		if bar != nil {
			bar.Describe("importing " + safeInline(service))
		}
		// First the newest values: this is the whole import when each
		// secret has one version, and otherwise finds the secrets that
		// are already current.
		multi := false
		newest := make([]cloudchain.SecretValue, len(chainsOf))
		for i, c := range chainsOf {
			newest[i] = cloudchain.SecretValue{User: c[0].User, Value: c[len(c)-1].Value}
			multi = multi || len(c) > 1
		}
		opts := dry
		if multi {
			opts = []cloudchain.PutOption{cloudchain.DryRun()}
		}
		results, err := st.PutMany(ctx, service, newest, opts...)
		if err != nil {
			return stop(fmt.Errorf("%s: %w", service, err))
		}
		if !multi || o.dryRun {
			for i, r := range results {
				c := chainsOf[i]
				done = append(done, importedResult{r, describeChain(c)})
				if bar != nil {
					bar.Add(len(c))
				}
			}
			continue
		}
		var pending [][]migrate.Secret
		for i, r := range results {
			if r.Status == cloudchain.Unchanged {
				done = append(done, importedResult{r, describeChain(chainsOf[i])})
				if bar != nil {
					bar.Add(len(chainsOf[i]))
				}
				continue
			}
			pending = append(pending, chainsOf[i])
		}
		for round := 0; ; round++ {
			var values []cloudchain.SecretValue
			var sources []migrate.Secret
			for _, c := range pending {
				if round < len(c) {
					values = append(values, cloudchain.SecretValue{User: c[round].User, Value: c[round].Value})
					sources = append(sources, c[round])
				}
			}
			if len(values) == 0 {
				break
			}
			results, err := st.PutMany(ctx, service, values)
			for i, r := range results {
				done = append(done, importedResult{r, sources[i].Source})
			}
			if err != nil {
				return stop(fmt.Errorf("%s: %w", service, err))
			}
			if bar != nil {
				bar.Add(len(values))
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if err := printImportFrom(w, o, done, failures); err != nil {
		return err
	}
	if len(failures) > 0 {
		return &importFromFailed{len(failures)}
	}
	return nil
}

// describeChain names the source of a secret's newest version, and how many
// versions it has when more than one.
func describeChain(c []migrate.Secret) string {
	src := c[len(c)-1].Source
	if len(c) > 1 {
		src += fmt.Sprintf(" (and %d earlier)", len(c)-1)
	}
	return src
}

// printImportFrom reports an import --from: one line per write or unchanged
// secret, one per failed item, and a summary; or one JSON object.
func printImportFrom(w io.Writer, o importFromRun, done []importedResult, failures []migrate.Failure) error {
	slices.SortStableFunc(failures, func(a, b migrate.Failure) int { return strings.Compare(a.Source, b.Source) })
	counts := map[cloudchain.WriteStatus]int{}
	for _, r := range done {
		counts[r.Status]++
	}
	if o.asJSON {
		failed := []failedItem{}
		for _, f := range failures {
			failed = append(failed, failedItem{Source: f.Source, Error: f.Err.Error()})
		}
		if done == nil {
			done = []importedResult{}
		}
		return printJSON(w, map[string]any{
			"from":      o.from,
			"dry_run":   o.dryRun,
			"results":   done,
			"failures":  failed,
			"created":   counts[cloudchain.Created],
			"updated":   counts[cloudchain.Updated],
			"unchanged": counts[cloudchain.Unchanged],
			"failed":    len(failures),
		})
	}
	for _, r := range done {
		status := string(r.Status)
		if o.dryRun && r.Status != cloudchain.Unchanged {
			status = "would be " + status
		}
		if _, err := fmt.Fprintf(w, "%s %s/%s version %d from %s\n", status, safeInline(r.Service), safeInline(r.User), r.Version, safeInline(r.Source)); err != nil {
			return &outputError{err}
		}
	}
	for _, f := range failures {
		if _, err := fmt.Fprintf(w, "failed %s: %s\n", safeInline(f.Source), safeInline(f.Err.Error())); err != nil {
			return &outputError{err}
		}
	}
	summary := fmt.Sprintf("%d created, %d updated, %d unchanged, %d failed", counts[cloudchain.Created], counts[cloudchain.Updated], counts[cloudchain.Unchanged], len(failures))
	if o.dryRun {
		summary = "dry run, nothing was written: " + summary
	}
	if _, err := fmt.Fprintln(w, summary); err != nil {
		return &outputError{err}
	}
	return nil
}
