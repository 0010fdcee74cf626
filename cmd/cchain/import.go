package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// importOptions are the settings of one import.
type importOptions struct {
	format secretfmt.Format
	// service is --service: the service of formats that name none, or
	// the service every secret goes to.
	service string
	dryRun  bool
	asJSON  bool
	// progress, when set, is where a progress bar is drawn (a terminal).
	progress io.Writer
}

// progressMin is the fewest secrets for which an import draws a progress
// bar: a short import is over before a bar means anything.
const progressMin = 100

func (a *app) newImportCommand() *cobra.Command {
	var (
		o      importOptions
		format string
	)
	cmd := &cobra.Command{
		Use:   "import FILE|-",
		Short: "Save secrets from a json, yaml, dotenv, shell or k8s file",
		Long: `Save every secret of FILE (- for stdin) as the new version of its secret.
The format is --format, else FILE's extension (.json .yaml .yml .env .sh);
stdin needs --format. dotenv, shell and the flat json and yaml forms
({USER: VALUE}) name no service: give --service. With --service, k8s documents
go into that service too. Files are read up to 64 MiB.

Import is idempotent: a secret whose value is already the current one is
reported unchanged and nothing is written for it. Each service costs one read of
its secrets and one key-provider call, then one write per changed secret.
--dry-run reports what would be created, updated or left unchanged, and writes
nothing.

Every name and size is checked before anything is written. If a write fails
part-way, cchain stops and lists exactly the secrets that were imported; each
secret is written whole or not at all. A progress bar is drawn on stderr when it
is a terminal and the file holds 100 secrets or more.`,
		Example: `  cchain import secrets.json
  cchain import db.env --service db --dry-run
  kubectl get secret db -o yaml | cchain import - --format k8s --service db
  cchain import all.yaml --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.asJSON = a.asJSON
			src := args[0]
			switch {
			case format != "":
				f, err := secretfmt.ParseFormat(format)
				if err != nil {
					return usagef("%v; the formats are json, yaml, dotenv, shell and k8s", err)
				}
				o.format = f
			case src == "-":
				return usagef("give --format json, yaml, dotenv, shell or k8s to import from stdin")
			default:
				f, err := secretfmt.FormatFromPath(src)
				if err != nil {
					return usagef("cannot tell the format from the name %s; give --format json, yaml, dotenv, shell or k8s", src)
				}
				o.format = f
			}
			if o.service != "" {
				if err := cloudchain.ValidateService(o.service); err != nil {
					return err
				}
			}
			data, err := a.readImport(cmd.Context(), src)
			if err != nil {
				return err
			}
			secrets, err := secretfmt.Decode(bytes.NewReader(data), o.format, o.service)
			cloudchain.Zero(data)
			if err != nil {
				if errors.Is(err, secretfmt.ErrNoService) {
					return usagef("%v (--service SERVICE)", err)
				}
				return fmt.Errorf("reading %s: %w; nothing was imported", src, err)
			}
			defer func() {
				for _, s := range secrets {
					cloudchain.Zero(s.Value)
				}
			}()
			if f, ok := a.env.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				o.progress = f
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runImport(cmd.Context(), st, a.stdout, o, secrets)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "`format`: json, yaml, dotenv, shell or k8s (default: from FILE's extension)")
	cmd.Flags().StringVar(&o.service, "service", "", "the `SERVICE` to import into (required for dotenv, shell and flat json/yaml)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "report what would change and write nothing")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the report as JSON")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFormats)
	_ = cmd.RegisterFlagCompletionFunc("service", a.completeServices)
	a.addImportFrom(cmd, &o.service, &o.dryRun) // import_from.go: --from credstash, ssm, secretsmanager
	return cmd
}

// readImport reads the file (or stdin for "-") to import, up to
// secretfmt.MaxInput bytes.
func (a *app) readImport(ctx context.Context, src string) ([]byte, error) {
	var r io.Reader
	name := src
	if src == "-" {
		r, name = a.env.stdin, "stdin"
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("opening the file to import: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("opening the file to import: %w", err)
		}
		if fi.IsDir() {
			return nil, usagef("%s is a directory; give a file to import", src)
		}
		r = f
	}
	data, err := readAllContext(ctx, io.LimitReader(r, secretfmt.MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > secretfmt.MaxInput {
		cloudchain.Zero(data)
		return nil, fmt.Errorf("%w: %s is larger than %d MiB; split it into several files; nothing was imported", cloudchain.ErrTooLarge, name, secretfmt.MaxInput>>20)
	}
	return data, nil
}

// runImport saves secrets with one PutMany per service, in the order the
// services first appear, and reports every secret.
func runImport(ctx context.Context, st *cloudchain.Store, w io.Writer, o importOptions, secrets []secretfmt.Secret) error {
	groups := secretfmt.GroupByService(secrets)
	// Check every name and size of every service before the first write,
	// so that a bad entry in the last service does not stop the import
	// after the first ones were written.
	var failures []*cloudchain.SecretError
	for _, s := range secrets {
		var err error
		switch {
		case cloudchain.ValidateID(s.Service, s.User) != nil:
			err = cloudchain.ValidateID(s.Service, s.User)
		case len(s.Value) > cloudchain.MaxSecretSize:
			err = fmt.Errorf("%w: the secret is %d bytes, the limit is %d", cloudchain.ErrTooLarge, len(s.Value), cloudchain.MaxSecretSize)
		}
		if err != nil {
			failures = append(failures, &cloudchain.SecretError{Service: s.Service, User: s.User, Err: err})
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("nothing was imported: %w", &cloudchain.BulkError{Failures: failures})
	}
	var bar *progressbar.ProgressBar
	if o.progress != nil && len(secrets) >= progressMin {
		bar = progressbar.NewOptions(len(secrets),
			progressbar.OptionSetWriter(o.progress),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	var done []cloudchain.WriteResult
	for _, g := range groups {
		service := g[0].Service
		values := make([]cloudchain.SecretValue, len(g))
		for i, s := range g {
			values[i] = cloudchain.SecretValue{User: s.User, Value: s.Value}
		}
		if bar != nil {
			bar.Describe("importing " + safeInline(service))
		}
		var opts []cloudchain.PutOption
		if o.dryRun {
			opts = append(opts, cloudchain.DryRun())
		}
		res, err := st.PutMany(ctx, service, values, opts...)
		done = append(done, res...)
		if err != nil {
			if bar != nil {
				bar.Clear()
			}
			perr := printWriteResults(w, done, o.dryRun, o.asJSON)
			return &partialError{err: err, done: done, dryRun: o.dryRun, verb: "import", printErr: perr}
		}
		if bar != nil {
			bar.Add(len(g))
		}
	}
	if bar != nil {
		bar.Finish()
	}
	return printWriteResults(w, done, o.dryRun, o.asJSON)
}

// partialError is a bulk write that stopped part-way: done are the secrets
// that were written (or found unchanged) before it stopped.
type partialError struct {
	err      error
	done     []cloudchain.WriteResult
	dryRun   bool
	verb     string
	printErr error
}

func (e *partialError) Error() string {
	written := 0
	for _, r := range e.done {
		if r.Status != cloudchain.Unchanged {
			written++
		}
	}
	msg := fmt.Sprintf("%s stopped: %v\n%d secrets were written before it stopped (listed on stdout); nothing else was changed", e.verb, e.err, written)
	if e.dryRun {
		msg = fmt.Sprintf("%s (dry run) stopped: %v; nothing was written", e.verb, e.err)
	}
	if e.printErr != nil {
		msg += fmt.Sprintf(" (and the list could not be printed: %v)", e.printErr)
	}
	return msg
}

func (e *partialError) Unwrap() error { return e.err }

// printWriteResults reports what a bulk write did (or, with dryRun, would
// do): one line per secret and a summary, or one JSON object.
func printWriteResults(w io.Writer, results []cloudchain.WriteResult, dryRun, asJSON bool) error {
	counts := map[cloudchain.WriteStatus]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	if asJSON {
		if results == nil {
			results = []cloudchain.WriteResult{}
		}
		return printJSON(w, map[string]any{
			"dry_run":   dryRun,
			"results":   results,
			"created":   counts[cloudchain.Created],
			"updated":   counts[cloudchain.Updated],
			"unchanged": counts[cloudchain.Unchanged],
		})
	}
	for _, r := range results {
		status := string(r.Status)
		if dryRun && r.Status != cloudchain.Unchanged {
			status = "would be " + status
		}
		if _, err := fmt.Fprintf(w, "%s %s/%s version %d\n", status, safeInline(r.Service), safeInline(r.User), r.Version); err != nil {
			return &outputError{err}
		}
	}
	summary := fmt.Sprintf("%d created, %d updated, %d unchanged", counts[cloudchain.Created], counts[cloudchain.Updated], counts[cloudchain.Unchanged])
	if dryRun {
		summary = "dry run, nothing was written: " + summary
	}
	if _, err := fmt.Fprintln(w, summary); err != nil {
		return &outputError{err}
	}
	return nil
}
